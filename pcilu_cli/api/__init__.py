# SPDX-License-Identifier: GPL-2.0-only
"""pcilu's Python API: what the command line does, as functions that return the same JSON
documents as dicts (``docs/api.md``).

    import pcilu
    m = pcilu.init("fixtures/fabrics/qemu-virtio-net.yaml")      # generation 0
    m.preserve("0000:01:00.0")                                    # {"kind": "preserve", ...}
    m1 = m.kexec()                                                # generation 1; m unchanged
    m1.enumerate()["devices"]                                     # the enumerate --json document
    m1.save("gen1.elf"); pcilu.load("gen1.elf")
    m1.export("gen1/")                                            # the export --json document
    pcilu.inspect("gen1.elf")                                     # the inspect --json document
    pcilu.rehearse("fixtures/scenarios/")                         # the rehearse --json document
    pcilu.verify("gen1.elf", "lspci.txt", "dmesg.txt")            # the verify --json document

Errors are the typed exceptions the command line maps to exit codes: :class:`BadInput` (3),
:class:`KernelRefusal` (4, ``.errno`` and ``.errno_name``), :class:`KernelPanic` (5,
``.panic_message``; ``.machine`` is the panicked generation), :class:`ExpectationFailed` (6).
All derive from :class:`PcIluError` (``.exit_code``, ``.to_json()``).

Layering: ``pcilu_cli.api`` sits between ``pcilu_cli.rehearsal`` and ``pcilu_cli.cli``; the CLI's
commands call these functions, so both have one implementation. Submodules are imported on
first use, so ``import pcilu`` stays cheap.
"""
from __future__ import annotations

TYPE_CHECKING = False      # (typing.TYPE_CHECKING, without importing typing at every start)

from pcilu_cli import __version__
from pcilu_cli.errors import (BadInput, ExpectationFailed, KernelPanic, KernelRefusal,
                              PcIluError)

if TYPE_CHECKING:
    from pcilu_cli.api.machine import Machine

__all__ = ["init", "load", "from_bytes", "boot_from_blob", "load_fabric", "inspect",
           "rehearse", "verify", "examples", "Machine", "BadInput", "KernelRefusal",
           "KernelPanic", "ExpectationFailed", "PcIluError", "__version__"]


def init(fabric, profile: str | None = "v6", cmdline: str = "") -> "Machine":
    """Boot generation 0 on ``fabric`` (a path as ``pcilu init`` takes it, or a Fabric)."""
    from pcilu_cli.api.machine import init as _init
    return _init(fabric, profile=profile, cmdline=cmdline)


def load(path) -> "Machine":
    """A generation from its state file (``-`` = stdin)."""
    from pcilu_cli.api.machine import load as _load
    return _load(path)


def from_bytes(data: bytes, name: str = "<bytes>") -> "Machine":
    """A generation from the bytes of a state file."""
    from pcilu_cli.api.machine import from_bytes as _fb
    return _fb(data, name)


def boot_from_blob(fabric, blob: bytes, *, profile: str | None = None, cmdline: str = "",
                   name: str | None = None, flb_name: str | None = None,
                   flb_count: int | None = None) -> "Machine":
    """Boot a kernel whose predecessor left ``blob`` (a raw ``struct pci_ser``) as its PCI FLB
    (``pcilu kexec --fabric F --flb BLOB``)."""
    from pcilu_cli.api.machine import boot_from_blob as _b
    return _b(fabric, blob, profile=profile, cmdline=cmdline, name=name, flb_name=flb_name,
              flb_count=flb_count)


def load_fabric(path):
    """A Fabric from what ``pcilu init`` accepts: YAML, ``lspci -xxxx`` dump, sysfs snapshot,
    serialized fabric or state file; its warnings are in ``fabric.diagnostics``."""
    from pcilu_cli.api.machine import load_fabric as _lf
    return _lf(path)


def inspect(path_or_bytes, profile: str | None = None) -> dict:
    """The ``inspect --json`` document of a file (path) or of bytes."""
    from pcilu_cli.api.decoder import inspect as _inspect
    return _inspect(path_or_bytes, profile=profile)


def rehearse(*paths, fail_fast: bool = False, keep: str | None = None) -> dict:
    """Run scenario files or directories; the ``rehearse --json`` document (``passed``)."""
    from pcilu_cli.api.suite import rehearse as _r
    return _r(*paths, fail_fast=fail_fast, keep=keep)


def verify(predicted, *actual) -> dict:
    """Hold a predicted generation (state file or Machine) against what a real host showed
    (an ``lspci -xxxx`` dump, a sysfs snapshot or capture, kernel log files); the
    ``verify --json`` document (``passed``, ``divergences``, ``unmodelled``)."""
    from pcilu_cli.rehearsal.verify import verify_paths as _v
    return _v(predicted, *actual)


def examples() -> dict:
    """The example fabrics and scenarios shipped with the package: ``{"root", "fabrics",
    "scenarios"}`` (paths)."""
    from pcilu_cli.api.shipped import listing
    return listing()


def __getattr__(name):
    if name == "Machine":
        from pcilu_cli.api.machine import Machine
        return Machine
    raise AttributeError(f"module 'pcilu' has no attribute {name!r}")
