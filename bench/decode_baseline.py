# SPDX-License-Identifier: GPL-2.0-only
"""The baseline of target 1: the plainest Python program that turns a flex-era ``struct pci_ser``
blob into the same JSON document ``pcilu inspect --json`` prints.

What it does, exactly (and nothing more):
  1. read the whole file;
  2. ``struct.unpack_from("<II")`` the header (max_nr_devices, nr_devices);
  3. one ``struct.iter_unpack("<IHH")`` loop over devices[max_nr_devices], building for every
     in-use entry (refcount != 0) the same 7-key dict, in the same key order, as pcilu
     (slot, domain, bus, device, function, bdf "DDDD:BB:DD.F", refcount);
  4. the same top-level keys as pcilu's document, with the header strings given on the command
     line (so that no pcilu code runs here);
  5. ``json.dumps(doc, ensure_ascii=False, separators=(",", ":"))`` + newline to stdout, as
     ``pcilu_cli.cli.context.print_json`` does.
It checks nothing (no bounds, no duplicates, no tail): that is the price pcilu may charge within
the 3x budget. Used as a subprocess (``python decode_baseline.py BLOB PROFILE COMPAT LAYOUT``)
and in-process (:func:`baseline_doc`).
"""
from __future__ import annotations

import json
import struct
import sys


def baseline_doc(data: bytes, profile: str, compatible: str, layout: str) -> dict:
    max_nr, nr = struct.unpack_from("<II", data, 0)
    devices = []
    append = devices.append
    for slot, (d, b, r) in enumerate(struct.iter_unpack("<IHH",
                                                         memoryview(data)[8:8 + 8 * max_nr])):
        if r:
            append({"slot": slot, "domain": d, "bus": b >> 8, "device": (b >> 3) & 0x1F,
                    "function": b & 7,
                    "bdf": f"{d:04x}:{b >> 8:02x}:{(b >> 3) & 0x1F:02x}.{b & 7}",
                    "refcount": r})
    return {"kind": "pci_ser", "profile": profile, "compatible": compatible, "layout": layout,
            "max_nr_devices": max_nr, "nr_devices": nr, "devices": devices,
            "free_slots": max_nr - len(devices), "blob_size": len(data), "warnings": []}


def dumps(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def main(argv: list[str]) -> None:
    path, profile, compatible, layout = argv
    with open(path, "rb") as f:
        data = f.read()
    sys.stdout.write(dumps(baseline_doc(data, profile, compatible, layout)))
    sys.stdout.write("\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
