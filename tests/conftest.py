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

# Hypothesis: CI (CI=true, as CI services set it) runs the same examples every time and saves
# nothing, so a run never depends on what an earlier run left in .hypothesis/; a local run
# keeps exploring new examples and replays the failures it saved.
from hypothesis import settings as _hyp_settings  # noqa: E402

_hyp_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
_hyp_settings.register_profile("dev")
HYPOTHESIS_PROFILE = os.environ.get("PCILU_HYPOTHESIS_PROFILE") or (
    "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev")
_hyp_settings.load_profile(HYPOTHESIS_PROFILE)

# Keep human output deterministic: no colour, a fixed width.
os.environ.setdefault("COLUMNS", "120")
os.environ.pop("FORCE_COLOR", None)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} (the shared real data) is not present")
    return SHARED


# Every state document pcilu writes during the suite must pass the shape check a load applies
# (pcilu_cli/state/metadata.py): a shape that refused one of pcilu's own states would be a
# false "corrupt" at the next load. Checked on the JSON each writer produces, as a reader sees it.
@pytest.fixture(autouse=True, scope="session")
def _written_states_pass_the_load_check():
    import json

    from pcilu_cli.state import kernel_note, machine
    from pcilu_cli.state import metadata as shapes
    real_metadata, real_head = machine.Machine.metadata, kernel_note._head

    def metadata(self):
        doc = real_metadata(self)
        shapes.check(json.loads(json.dumps(doc)), "<written by pcilu>")
        return doc

    def head(k):
        doc = real_head(k)
        shapes.check_kernel_head(json.loads(json.dumps(doc)), "<written by pcilu>",
                                 kernel_note.FIELD)
        return doc
    machine.Machine.metadata, kernel_note._head = metadata, head
    yield
    machine.Machine.metadata, kernel_note._head = real_metadata, real_head
