# SPDX-License-Identifier: GPL-2.0-only
"""The export view of a generation: the files ``pcilu export STATE -o DIR`` writes.

:func:`export_files` yields ``(relative path, bytes)`` in a fixed order; :func:`write_export`
writes them under a directory (each file atomically) and returns the relative paths.

    lspci.txt                       config space, readable by ``lspci -F``
    kho/fdt, kho/sub_fdts/<name>    the outgoing KHO tree as debugfs shows it (``kho/out/``)
    kho/in/fdt, kho/in/sub_fdts/*   the incoming one (``kho/in/``), when memory still holds it
    flb/<compatible>.bin            the outgoing ``struct pci_ser`` as the kernel holds it
    flb/incoming/<compatible>.bin   the incoming one
    state.json                      metadata and the enumerate report

A sub-FDT is exported when its pages are in memory: its length is the root's ``blob-size``
(KHO gen C+) or, for gen A (no ``blob-size``), the sub-FDT's own ``totalsize``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator

from pcilu_cli.errors import BadInput
from pcilu_cli.memory import fdt as fdtmod
from pcilu_cli.memory.physmem import PAGE_SIZE


def kho_tree_files(mem, root_pa: int, prefix: str) -> Iterator[tuple[str, bytes]]:
    """The KHO root FDT at ``root_pa`` and every sub-FDT it names that memory holds."""
    root = fdtmod.fdt_at(mem, root_pa, limit=PAGE_SIZE)
    yield f"{prefix}/fdt", root
    try:
        parsed = fdtmod.read_kho_root_fdt(root)
    except BadInput:
        return
    for name, pa, blob_size in parsed.subtrees:
        if not pa or not mem.present(pa, 8):
            continue
        n = fdtmod.fdt_totalsize(mem.read(pa, 8)) if blob_size is None else blob_size
        if mem.present(pa, n):
            yield f"{prefix}/sub_fdts/{name}", mem.read(pa, n)


def export_files(m) -> Iterator[tuple[str, bytes]]:
    """Every file of the export view of Machine ``m``, in the order they are written."""
    from pcilu_cli.fabric.lspci import export_dump
    yield "lspci.txt", export_dump(m.fabric).encode()
    if m.hout is not None:
        yield from kho_tree_files(m.mem, m.hout.root_pa, "kho")
    root_in = (m.kho_in or {}).get("root_pa")
    if root_in and m.mem.present(root_in, 8):
        yield from kho_tree_files(m.mem, root_in, "kho/in")
    k = m.kernel
    if k is not None:
        out, inc = k.outgoing_blob(), k.incoming_blob()
        if out is not None:
            yield f"flb/{k.profile.pci_compatible}.bin", out
        if inc is not None:
            yield f"flb/incoming/{k.profile.pci_compatible}.bin", inc
    doc = {"metadata": m.metadata(), "report": m.report()}
    yield "state.json", (json.dumps(doc, indent=1) + "\n").encode()


def write_export(m, outdir: str) -> list[str]:
    """Write :func:`export_files` under ``outdir``; returns the relative paths written."""
    from pcilu_cli.state.store import atomic_write
    written = []
    for rel, data in export_files(m):
        path = os.path.join(outdir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, data)
        written.append(rel)
    return written
