# SPDX-License-Identifier: GPL-2.0-only
"""pcilu — rehearse Linux PCI Live Update (the v6 "PCI: liveupdate" series on KHO/LUO) and
decode its hand-over data without rebooting a machine.

Layers (imports flow up this list, data flows down it):
    abi/     Construct layouts of the kernel's hand-over structs, selected by profile
    memory/  sparse physical memory, the KHO allocator/tracker, the ELF core container
    fabric/  config space of every function, topology, YAML / lspci / sysfs import and export
    kernel/  the simulated kernel of one generation (LUO, PCI live update, enumeration)
    state/   the generation state file (atomic, locked)
    cli/     commands (click, and a click-free fast path for the common kernel command
             lines) and rendering; the one place errors become exit codes
"""
__version__ = "0.1.0"
