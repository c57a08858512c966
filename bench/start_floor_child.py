# SPDX-License-Identifier: GPL-2.0-only
"""Child of target 2's start floor: import what one `pcilu` command imports, and nothing else.

``python start_floor_child.py MODULES.json`` imports every module named in the file (written
by ``cli_modules_child.py``, in the order the command first imported them) that this
interpreter has not loaded yet, and exits. Its wall time, taken by the parent as it takes a
command's, is what a process that runs that command pays before doing any of its work: the
interpreter's start and the command's imports, pcilu's own and the libraries'. A module that
does not import on its own (a name only a package's internals create) is skipped; the names
skipped are the last line on standard error (a JSON list), which the parent reports.
"""
from __future__ import annotations

import importlib
import json
import sys


def main(argv):
    with open(argv[0]) as f:
        names = json.load(f)
    failed = []
    for name in names:
        if name in sys.modules or name == "__main__":
            continue
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - reported: the parent names them
            failed.append(name)
    sys.stderr.write(json.dumps(failed) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
