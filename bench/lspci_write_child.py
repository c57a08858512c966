# SPDX-License-Identifier: GPL-2.0-only
"""Child process of the lspci.txt row: the part of `pcilu export` that writes lspci.txt.

``python lspci_write_child.py STATE OUT`` prints {"load": s, "write": s}: the state is loaded
(untimed, reported apart), then the dump of its fabric is written to OUT exactly as ``export``
writes it (``pcilu_cli.fabric.lspci.write_dump`` into the file when it exists — the streaming
writer — else ``export_dump`` + one write), timed up to the file being closed.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import adapters as api  # noqa: E402


def main(argv):
    state, out = argv[0], argv[1]
    _save, load = api.state_api()
    from pcilu_cli.fabric import lspci
    t0 = time.perf_counter()
    m = load(state)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    writer = getattr(lspci, "write_dump", None)
    with open(out, "w", encoding="utf-8") as f:
        if writer is not None:
            writer(m.fabric, f)
        else:
            f.write(lspci.export_dump(m.fabric))
    t_write = time.perf_counter() - t0
    print(json.dumps({"load": t_load, "write": t_write}))


if __name__ == "__main__":
    main(sys.argv[1:])
