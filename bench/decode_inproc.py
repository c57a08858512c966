# SPDX-License-Identifier: GPL-2.0-only
"""Child process of target 1: the in-process pieces of ``inspect --json`` against the baseline.

``python decode_inproc.py BLOB REPEATS`` prints one JSON document with the median seconds of each
piece. pcilu's pieces are the functions ``pcilu inspect --json`` calls, in its order:
``detect_pci_profile`` (only when no ``--profile`` is given), ``pci.decode_pci_ser``,
``pci.pci_ser_to_json`` and the ``json.dumps`` of ``context.print_json``. Baseline and pcilu runs
are interleaved; each document is dropped (and the heap collected) before the next run, so both
build their million dicts on the same heap shape.
"""
from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decode_baseline import baseline_doc, dumps  # noqa: E402


def main(argv):
    blob, repeats = argv[0], int(argv[1])
    t0 = time.perf_counter()
    from pcilu_cli.abi import pci
    from pcilu_cli.abi.profiles import get_profile
    from pcilu_cli.abi.detect import detect_pci_profile
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = Path(blob).read_bytes()
    t_read = time.perf_counter() - t0
    prof = get_profile("v6")
    hdr = (prof.name, prof.pci_compatible, "flex")
    times = {k: [] for k in ("baseline_build", "baseline_dumps", "detect", "decode", "to_json",
                             "dumps")}
    identical = None
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        bdoc = baseline_doc(data, *hdr)
        t1 = time.perf_counter()
        btext = dumps(bdoc)
        t2 = time.perf_counter()
        times["baseline_build"].append(t1 - t0)
        times["baseline_dumps"].append(t2 - t1)
        del bdoc
        gc.collect()
        t0 = time.perf_counter()
        detect_pci_profile(data)
        t1 = time.perf_counter()
        ser = pci.decode_pci_ser(data, "v6", file=blob)
        t2 = time.perf_counter()
        doc = pci.pci_ser_to_json(ser)
        t3 = time.perf_counter()
        text = json.dumps(doc, ensure_ascii=False, indent=None, separators=(",", ":"))
        t4 = time.perf_counter()
        times["detect"].append(t1 - t0)
        times["decode"].append(t2 - t1)
        times["to_json"].append(t3 - t2)
        times["dumps"].append(t4 - t3)
        if identical is None:
            identical = text == btext
            n_devices = len(doc["devices"])
        del doc, ser, text, btext
    med = {k: statistics.median(v) for k, v in times.items()}
    json.dump({"import": t_import, "read": t_read, "median": med, "runs": times,
               "identical_output": identical, "devices": n_devices, "bytes": len(data)},
              sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
