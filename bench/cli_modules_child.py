# SPDX-License-Identifier: GPL-2.0-only
"""Child of target 2's start floor: run one `pcilu` command and list what it imported.

``python cli_modules_child.py OUT ARGS...`` runs ``pcilu ARGS...`` in this interpreter (the
console script's entry point, as a user's shell runs it) and, however the command ends, writes
to OUT the JSON list of the modules this process had loaded when it ended, in the order they
were first imported (``sys.modules`` keeps that order). ``start_floor_child.py`` then times a
fresh interpreter that imports exactly those and does nothing else.
"""
from __future__ import annotations

import atexit
import json
import sys


def _write(out: str) -> None:
    with open(out, "w") as f:
        json.dump(list(sys.modules), f)


def main(argv):
    out, args = argv[0], argv[1:]
    atexit.register(_write, out)
    sys.argv = ["pcilu", *args]
    from pcilu_cli.cli import main as pcilu_main
    pcilu_main()


if __name__ == "__main__":
    main(sys.argv[1:])
