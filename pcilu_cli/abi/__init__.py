# SPDX-License-Identifier: GPL-2.0-only
"""Every byte layout pcilu reads or writes, one module per header it mirrors.

Pure: bytes in, containers out. Nothing here imports a higher layer.
    pci.py        include/linux/kho/abi/pci.h     struct pci_ser / struct pci_dev_ser
    luo.py        include/linux/kho/abi/luo.h     luo_ser, sessions, files, FLB page
    kho.py        include/linux/kho/abi/*.h       KHO radix tree, memory map, kexec metadata
    kho_block.py  include/linux/kho/abi/block.h   kho_block_header_ser
    fdt.py        the flattened device tree header
    elf.py        include/uapi/linux/elf.h        ELF64 core headers (the state file)
    pci_regs.py   include/uapi/linux/pci_regs.h   config-space register names, PciExpType
    pci_config.py config-space structures (headers and capabilities) as Construct layouts
    bdf.py        PCI addresses: BDF text, devfn, pci_dev_id, the kernel's device key
    fabric_file.py  PCILUFAB, pcilu's serialized fabric
    profiles.py   which layouts and constants each kernel (profile) uses
    codec.py      fast codecs derived from the layouts; the one decode choke point
    formats.py    the one table from a file's first bytes to what it is
"""
