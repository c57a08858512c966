# SPDX-License-Identifier: GPL-2.0-only
"""Layouts from before v6 that real trees carry: the u64-header ``struct pci_ser`` of the v3
posting (PATCH v3 02/24: ``u64 max_nr_devices; u64 nr_devices``, entries "sorted ascending by
domain and bdf") and a ``kho-v2`` root FDT that already has ``blob-size``."""
from __future__ import annotations

import struct

import pcilu
from pcilu_cli.abi import pre_v6
from pcilu_cli.memory.fdt import build_kho_root_fdt, read_kho_root_fdt
from tests.pcilu_run import run


def u64_blob(entries, max_nr):
    body = b"".join(struct.pack("<IHH", d, b, 0) for d, b in entries)
    return struct.pack("<QQ", max_nr, len(entries)) + body + bytes(8 * (max_nr - len(entries)))


def test_inspect_names_the_pre_v4_layout_and_its_posting(tmp_path):
    blob = tmp_path / "old.bin"
    blob.write_bytes(u64_blob([(0, 0x0008), (0, 0x0100), (1, 0x0000)], 5))
    doc = pcilu.inspect(blob)
    assert doc["layout"] == "flex-u64" and "pre-v4 posting" in doc["posting"]
    assert (doc["max_nr_devices"], doc["nr_devices"]) == (5, 3)
    assert [d["bdf"] for d in doc["devices"]] == ["0000:00:01.0", "0000:01:00.0",
                                                 "0001:00:00.0"]
    assert "pre-v4 posting" in run(["inspect", blob]).stdout


def test_unsorted_or_v6_blobs_are_not_taken_for_the_old_layout():
    # the v3 header comment guarantees the order; a v6 blob reads as nr_devices 0 there
    assert not pre_v6.looks_like_pci_ser_u64(u64_blob([(0, 0x0100), (0, 0x0008)], 3))
    v6 = struct.pack("<II", 3, 2) + struct.pack("<IHH", 0, 0x100, 1) \
        + struct.pack("<IHH", 0, 0x8, 1) + bytes(8)
    assert not pre_v6.looks_like_pci_ser_u64(v6)
    assert not pre_v6.looks_like_pci_ser_u64(struct.pack("<II", 3, 0) + bytes(24))


def test_kho_v2_root_with_blob_size_is_read_and_named(tmp_path):
    # gen C writes blob-size; give the tree the kho-v2 compatible (a real intermediate tree)
    fdt = build_kho_root_fdt("kho-v2", 0x1000, [("LUO", 0x2000, 0x20)], gen="C")
    root = read_kho_root_fdt(fdt)
    assert root.gen == "B" and root.subtrees == [("LUO", 0x2000, 0x20)]
    assert root.posting == pre_v6.POSTING_KHO_V2_BLOB_SIZE
    doc = pcilu.inspect(fdt)
    assert doc["posting"] and doc["subtrees"][0]["blob_size"] == 0x20
    plain = build_kho_root_fdt("kho-v2", 0x1000, [("LUO", 0x2000, None)], gen="B")
    assert read_kho_root_fdt(plain).posting is None
