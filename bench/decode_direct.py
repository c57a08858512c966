# SPDX-License-Identifier: GPL-2.0-only
"""The direct-formatting baseline of target 1: the same JSON text as ``pcilu inspect --json``
of a flex-era ``struct pci_ser``, with each entry formatted straight into the output.

What it does (and nothing more): read the whole file; unpack the header; one
``struct.iter_unpack("<IHH")`` loop over devices[max_nr_devices] that formats every in-use
entry (refcount != 0) as its JSON object text with one f-string, writing the text to stdout in
chunks of 16,384 entries (so no list of a million dicts and no million-item document exists at
any time); the top-level keys before and after, as ``json.dumps(..., separators=(",", ":"))``
writes them. No checks. This is the floor of time and memory for this output; the older
baseline (decode_baseline.py: build the dicts, then ``json.dumps``) is kept as a second row.
Used as ``python decode_direct.py BLOB PROFILE COMPAT LAYOUT``.
"""
from __future__ import annotations

import json
import struct
import sys


def main(argv: list[str]) -> None:
    path, profile, compatible, layout = argv
    with open(path, "rb") as f:
        data = f.read()
    max_nr, nr = struct.unpack_from("<II", data, 0)
    w = sys.stdout.write
    w('{"kind":"pci_ser","profile":' + json.dumps(profile) + ',"compatible":'
      + json.dumps(compatible) + ',"layout":' + json.dumps(layout) + f',"max_nr_devices":'
      f'{max_nr},"nr_devices":{nr},"devices":[')
    chunk = []
    used = 0
    for slot, (d, b, r) in enumerate(struct.iter_unpack("<IHH",
                                                         memoryview(data)[8:8 + 8 * max_nr])):
        if r:
            bus, dev, fn = b >> 8, (b >> 3) & 0x1F, b & 7
            chunk.append(f'{{"slot":{slot},"domain":{d},"bus":{bus},"device":{dev},'
                         f'"function":{fn},"bdf":"{d:04x}:{bus:02x}:{dev:02x}.{fn}",'
                         f'"refcount":{r}}}')
            used += 1
            if len(chunk) == 16384:
                w(("," if used > 16384 else "") + ",".join(chunk))
                chunk = []
    if chunk:
        w(("," if used > len(chunk) else "") + ",".join(chunk))
    w(f'],"free_slots":{max_nr - used},"blob_size":{len(data)},"warnings":[]}}\n')
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
