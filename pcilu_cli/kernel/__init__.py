# SPDX-License-Identifier: GPL-2.0-only
"""The simulated kernel of one generation (``pcilu_cli.kernel``).

Modules, one per kernel file they mirror:
    generation.py  Kernel: boot/enumerate, preserve, unpreserve, finish, freeze, kexec,
                   hot_remove, rescan, report, to_state/from_state
    liveupdate.py  drivers/pci/liveupdate.c (v6, plus the named differences of every other
                   profile): FLB ops, preserve/unpreserve/finish, setup/cleanup_device,
                   scan_bridge_begin/end, ACS/ARI hooks, freeze
    pci_blocks.py  struct pci_ser of v7 / the version-field era over a kho_block chain
    luo.py         LUO sessions, files and FLB refcounts (kernel/liveupdate/luo_*.c)
    probe.py       drivers/pci/probe.c enumeration (+ pci_configure_ari, pci_acs_init, VFs)
    acs.py         pci_enable_acs() with pci=config_acs= / disable_acs_redir=
    shutdown.py    pci_device_shutdown(): freeze, Bus Master Enable on kexec
    params.py      kernel command line → KernelParams
    handover.py    Handover, the Incoming protocol, SimpleAllocator
    log.py         the kernel log
"""
from .generation import Kernel
from .handover import VFIO_COMPATIBLE, Handover, Incoming, SimpleAllocator
from .params import KernelParams, parse_cmdline

__all__ = ["Kernel", "Handover", "Incoming", "SimpleAllocator", "VFIO_COMPATIBLE",
           "KernelParams", "parse_cmdline"]
