# SPDX-License-Identifier: GPL-2.0-only
"""The example fabrics and scenarios that ship inside the package (``pcilu examples``).

They live in ``pcilu_cli/data/examples/{fabrics,scenarios}`` so that an installed wheel can
run the README's commands without a checkout (in the source tree those two folders are links
to ``fixtures/fabrics`` and ``fixtures/scenarios``, where the tests and the README name them).
A scenario names its fabric relative to its own file (``../fabrics/x.yaml``), so a copy keeps
the two folders side by side.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from pcilu_cli.errors import BadInput

ROOT = Path(__file__).resolve().parents[1] / "data" / "examples"
KINDS = ("fabrics", "scenarios")


def path(kind: str, name: str) -> Path:
    """The shipped example ``kind``/``name`` (e.g. ``path("fabrics", "qemu-virtio-net.yaml")``)."""
    return ROOT / kind / name


def _summary(p: Path) -> str | None:
    """A scenario's ``name``/first ``description`` line, without running the YAML loader's
    validation (a listing must not fail on one odd file)."""
    try:
        import yaml
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - a summary is optional
        return None
    if not isinstance(doc, dict):
        return None
    text = doc.get("description") or doc.get("name")
    return " ".join(str(text).split()) if text else None


def listing() -> dict:
    """``{"kind": "examples", "root", "fabrics": [...], "scenarios": [...]}``: each entry has
    ``name`` and ``path``; scenarios add ``description``."""
    doc = {"kind": "examples", "root": str(ROOT)}
    for kind in KINDS:
        items = []
        for p in sorted((ROOT / kind).glob("*.yaml")):
            item = {"name": p.name, "path": str(p)}
            if kind == "scenarios":
                item["description"] = _summary(p)
            items.append(item)
        doc[kind] = items
    return doc


def copy(dest) -> dict:
    """Copy ``fabrics/`` and ``scenarios/`` into ``dest`` (created if needed) — all or
    nothing: built in a temporary folder inside ``dest`` and renamed into place, so a failure
    leaves neither half-copied folders nor the temporary behind. Existing ``dest/fabrics`` or
    ``dest/scenarios`` are never overwritten (bad input, exit 3)."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise BadInput("exists and is not a directory", file=str(dest))
    for kind in KINDS:
        if (dest / kind).exists() or (dest / kind).is_symlink():
            raise BadInput(f"{kind}/ already exists there; remove it or copy into another "
                           "directory", file=str(dest))
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BadInput(f"cannot create: {e.strerror or e}", file=str(dest)) from None
    written = []
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".pcilu-examples-", dir=dest))
    except OSError as e:
        raise BadInput(f"cannot write: {e.strerror or e}", file=str(dest)) from None
    try:
        for kind in KINDS:
            shutil.copytree(ROOT / kind, tmp / kind)
        for kind in KINDS:
            os.rename(tmp / kind, dest / kind)
            written.append(kind)
    except OSError as e:
        for kind in written:
            shutil.rmtree(dest / kind, ignore_errors=True)
        raise BadInput(f"cannot copy the examples: {e.strerror or e}", file=str(dest)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    doc = listing()
    for kind in KINDS:
        for item in doc[kind]:
            item["path"] = str(dest / kind / item["name"])
    doc["root"] = str(dest)
    doc["copied"] = True
    return doc
