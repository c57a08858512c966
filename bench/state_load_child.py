# SPDX-License-Identifier: GPL-2.0-only
"""Child process of target 4: load one state file in a fresh interpreter, timed.

``python state_load_child.py STATE`` prints {"import": s, "load": s}: ``import`` is the cost of
importing the state layer (paid by every command, reported apart), ``load`` the call of the
state layer's loader on the file (reading, decompressing, rebuilding fabric and kernel).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import adapters as api  # noqa: E402


def main(argv):
    t0 = time.perf_counter()
    _save, load = api.state_api()
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    load(argv[0])
    t_load = time.perf_counter() - t0
    print(json.dumps({"import": t_import, "load": t_load}))


if __name__ == "__main__":
    main(sys.argv[1:])
