# SPDX-License-Identifier: GPL-2.0-only
"""Construct layouts of the hand-over ABI, one module per kernel header they mirror.

Pure: bytes in, containers out. Nothing here imports a higher layer.
    pci.py       include/linux/kho/abi/pci.h       struct pci_ser / struct pci_dev_ser
    luo.py       include/linux/kho/abi/luo.h       luo_ser, sessions, files, FLB page
    kho_block.py include/linux/kho/abi/block.h     kho_block_header_ser
    profiles.py  which layouts and constants each kernel (profile) uses
"""
