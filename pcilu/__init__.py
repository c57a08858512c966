# SPDX-License-Identifier: GPL-2.0-only
"""pcilu — rehearse Linux PCI Live Update from Python (``docs/api.md``).

The public name of :mod:`pcilu_cli.api` (the layer between the rehearsal engine and the
command line, which the CLI's commands are built on)::

    import pcilu
    m = pcilu.init("fabric.yaml")
    m.preserve("0000:01:00.0")
    gen1 = m.kexec()
    gen1.enumerate()["devices"]
"""
from pcilu_cli.api import (BadInput, ExpectationFailed, KernelPanic, KernelRefusal,
                           PcIluError, __version__, boot_from_blob, examples, from_bytes, init,
                           inspect, load, load_fabric, rehearse, verify)

__all__ = ["init", "load", "from_bytes", "boot_from_blob", "load_fabric", "inspect",
           "rehearse", "verify", "examples", "Machine", "BadInput", "KernelRefusal",
           "KernelPanic", "ExpectationFailed", "PcIluError", "__version__"]


def __getattr__(name):
    if name == "Machine":
        from pcilu_cli.api.machine import Machine
        return Machine
    raise AttributeError(f"module 'pcilu' has no attribute {name!r}")
