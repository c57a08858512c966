# SPDX-License-Identifier: GPL-2.0-only
"""Baseline of the state-load row: read + parse + decompress a state file, building nothing.

``python state_read_baseline.py STATE`` prints {"import": s, "load": s}. ``load`` is the least
any loader of this file format has to do, written as plainly as possible with the standard
library: read the file; unpack the ELF64 header and program headers with ``struct``; walk the
PT_NOTE segments' notes; ``json.loads`` the metadata note; ``zlib.decompress`` the fabric note
and parse its body (``json.loads`` of its metadata, ``struct.iter_unpack`` of its record table
into a list, and in version 2 of its uid ends and orders, and its uid text decoded); the kernel note's sections (state format 2): ``zlib.decompress`` each,
``json.loads`` the head, ``struct.iter_unpack`` the bus rows, the device keys and rows,
``json.loads`` each chunk's uids; decode the log note; slice
every PT_LOAD segment (a memoryview, as pcilu keeps it). No checks and no objects: what pcilu
does beyond this (validation, building fabric and kernel objects) is what the ratio charges.
"""
from __future__ import annotations

import json
import struct
import sys
import time
import zlib

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
NT_METADATA, NT_FABRIC, NT_KERNEL, NT_LOG = 0x50434C01, 0x50434C02, 0x50434C03, 0x50434C04


def load(path: str) -> dict:
    with open(path, "rb") as f:
        data = f.read()
    mv = memoryview(data)
    eh = EHDR.unpack_from(mv, 0)
    phoff, phnum = eh[5], eh[10]
    out = {"segments": [], "notes": {}}
    for i in range(phnum):
        p_type, _f, off, _v, paddr, filesz, _m, align = PHDR.unpack_from(mv, phoff + 56 * i)
        if p_type == 1:
            out["segments"].append((paddr, mv[off:off + filesz]))
        elif p_type == 4:
            pos, end, a = off, off + filesz, 8 if align == 8 else 4
            while pos + 12 <= end:
                namesz, descsz, ntype = struct.unpack_from("<III", mv, pos)
                pos += 12
                name = bytes(mv[pos:pos + namesz]).rstrip(b"\0")
                pos += (namesz + a - 1) // a * a
                desc = mv[pos:pos + descsz]
                pos += (descsz + a - 1) // a * a
                if name == b"PCILU":
                    out["notes"][ntype] = desc
    notes = out["notes"]
    parsed = {}
    for ntype, desc in notes.items():
        raw = bytes(desc)
        if ntype == NT_METADATA:                  # JSON
            parsed[ntype] = json.loads(raw)
        elif ntype == NT_FABRIC:                  # magic, u16 version, zlib body
            version = struct.unpack_from("<H", raw, 8)[0]
            body = zlib.decompress(raw[10:])
            if version == 1:                      # the uids in the meta
                (mlen, tlen, n), ulen, pos = struct.unpack_from("<III", body, 0), 0, 12
            else:                                 # the uids in a column after the table
                mlen, tlen, n, ulen = struct.unpack_from("<IIII", body, 0)
                pos = 16
            meta = json.loads(body[pos:pos + mlen])
            pos += mlen
            table = list(struct.iter_unpack("<iHBBHBBI", body[pos:pos + tlen]))
            pos += tlen
            uids = None
            if version != 1:                      # ends, orders, then the uid text
                uids = (list(struct.iter_unpack("<I", body[pos:pos + 4 * n])),
                        list(struct.iter_unpack("<I", body[pos + 4 * n:pos + 8 * n])),
                        body[pos + 8 * n:pos + 8 * n + ulen].decode())
            parsed[ntype] = (meta, table, uids, body)
        elif ntype == NT_KERNEL:                  # header, section lengths, zlib sections
            _magic, _per, nrows, nchunks = struct.unpack_from("<8sIII", raw, 0)
            lens = struct.unpack_from(f"<{3 + nchunks}I", raw, 20)
            pos, secs = 20 + 4 * len(lens), []
            for n in lens:
                secs.append(zlib.decompress(raw[pos:pos + n]))
                pos += n
            head = json.loads(secs[0])
            # bus rows: magic, then one "<QqqHHB" row per bus (a JSON list in older files)
            buses = list(struct.iter_unpack("<QqqHHB", secs[1][8:])) \
                if secs[1][:8] == b"PCILUBR1" else json.loads(secs[1])
            keys = list(struct.iter_unpack("<Q", secs[2]))
            rows, uids = [], []
            for c in secs[3:]:
                k = min(_per, nrows - len(rows))
                rows += struct.iter_unpack("<BBHHiiHqHH", c[8 * k:36 * k])
                uids += json.loads(c[36 * k:])
            parsed[ntype] = (head, buses, keys, rows, uids)
        elif ntype == NT_LOG:                     # text
            parsed[ntype] = raw.decode("utf-8", "replace")
    return parsed


def main(argv):
    t0 = time.perf_counter()
    doc = load(argv[0])
    t = time.perf_counter() - t0
    print(json.dumps({"import": 0.0, "load": t, "notes": len(doc)}))


if __name__ == "__main__":
    main(sys.argv[1:])
