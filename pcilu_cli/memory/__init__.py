# SPDX-License-Identifier: GPL-2.0-only
"""Physical memory and the KHO hand-over image (layer 2: imports only ``abi`` and ``errors``).

    physmem.py   sparse physical memory (PhysMem)
    kho.py       deterministic kho_alloc_preserve() allocator and the preserved-memory trackers
    elfcore.py   the ELF64 core container (our state file; also reads QEMU / kdump dumps)
    fdt.py       the KHO root FDT and LUO's own FDT (luo-v1), writer and validating reader
    blocks.py    kho_block_set producer and kho_block_set_restore() consumer
    handover.py  the outgoing kernel's KHO+LUO state, the incoming kernel's view, inspect walk
"""
