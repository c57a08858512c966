# SPDX-License-Identifier: GPL-2.0-only
"""Shared test set-up: the repository root on sys.path (for tests.pcilu_run) and the location
of the real data in ../shared (cloned beside the repository in CI)."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED = Path(os.environ.get("PCILU_SHARED", ROOT.parent / "shared"))

# Keep human output deterministic: no colour, a fixed width.
os.environ.setdefault("COLUMNS", "120")
os.environ.pop("FORCE_COLOR", None)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} (the shared real data) is not present")
    return SHARED
