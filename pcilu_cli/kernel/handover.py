# SPDX-License-Identifier: GPL-2.0-only
"""What one kernel hands the next, independent of the image format.

* :class:`Handover` — returned by ``Kernel.kexec()``: LUO sessions (creation order, files as
  ``(compatible, data, token)``), FLB records ``(name, data_pa, count, blob_bytes)`` in
  registration order with ``count > 0``, and the next generation's fabric.
* :class:`Incoming` — the protocol of the ``incoming`` source the next kernel reads
  (``flb``, ``read``, ``sessions``); the state layer's memory-backed source implements it.
* :func:`raw_blob_sessions` — the sessions implied by a raw ``struct pci_ser``.
* :class:`SimpleAllocator` — the allocator a :class:`~pcilu_cli.kernel.generation.Kernel`
  uses when it is booted without one (the kernel layer on its own, without physical memory:
  ``Kernel.boot()`` from Python, the kernel tests): a deterministic stand-in for
  ``kho_alloc_preserve()``, ``2^order`` pages naturally aligned at the lowest free address
  from 0x1_0000_0000, with no memory behind them. A ``Machine`` (every command) always passes
  the KHO allocator of ``pcilu_cli.memory.kho`` instead.

Our conventions (the VFIO payload is not in the spec): the file handler compatible is
``"vfio-pci-v1"``, ``data`` is 0, the token is ``(domain << 16) | bdf`` (a second file for the
same device in one session carries a sequence number in bits 48..63).

Booting from a raw blob (``kexec --fabric F --flb BLOB``): the FLB is named by the profile's
compatible, ``count`` = number of files of :func:`raw_blob_sessions`.
"""
from __future__ import annotations


from pcilu_cli.abi import pci
from pcilu_cli.abi.page import get_order  # noqa: F401  (re-exported: one definition)

VFIO_COMPATIBLE = "vfio-pci-v1"
DEFAULT_SESSION = "pcilu"
RAW_BLOB_PA = 0x1_0000_0000
PAGE = 4096


class Handover:
    """What kexec hands the next kernel. (A plain class rather than a dataclass: every kernel
    command loads this module, and a dataclass's methods are generated at import.)"""

    def __init__(self, sessions: list, flbs: list, fabric: object, generation: int = 0,
                 profile: str = "v6", messages: list | None = None, pages: list | None = None,
                 bus_master_cleared: list | None = None):
        self.sessions = sessions
        self.flbs = flbs
        self.fabric = fabric
        self.generation = generation
        self.profile = profile
        self.messages = [] if messages is None else messages
        self.pages = [] if pages is None else pages   # [(pa, bytes)] PCI FLB pages (block eras)
        # [(name, uid)] of the devices device_shutdown() cleared Bus Master Enable on
        self.bus_master_cleared = [] if bus_master_cleared is None else bus_master_cleared

    def __repr__(self) -> str:
        return (f"Handover(generation={self.generation!r}, profile={self.profile!r}, "
                f"sessions={self.sessions!r}, flbs=<{len(self.flbs)}>)")


class Incoming:
    """What a booting kernel reads of the previous kernel's hand-over (LUO's view after
    ``luo_early_startup()``): the FLB record of a name (exact strcmp) as ``(data_pa, count)``,
    the bytes at a preserved physical address (``phys_to_virt``; fewer than asked past the
    preserved memory), and the sessions ``[(name, [(compatible, data, token)])]``.

    Declared once, here: the state layer's memory-backed source and the kernel tests'
    in-memory one subclass it, and the kernel reads nothing else of them. (A plain base
    class, not a ``typing.Protocol``: importing typing is ~3 ms of every command's start.)"""

    sessions: list

    def flb(self, name: str) -> tuple[int, int] | None: ...

    def read(self, pa: int, n: int) -> bytes: ...


def raw_blob_sessions(fabric, blob: bytes, handler: str = VFIO_COMPATIBLE) -> list:
    """The LUO sessions a raw ``struct pci_ser`` implies (``kexec --fabric F --flb BLOB``):
    one session :data:`DEFAULT_SESSION` with one file per in-use entry whose device (by the
    fabric's routing at boot) is not a bridge; empty when there is none (our choice)."""
    files = []
    if len(blob) >= pci.PCI_SER_FLEX.size:
        max_nr, _nr = pci.PCI_SER_FLEX.unpack_from(blob, 0)
        body = memoryview(blob)[pci.FLEX_DEVICES_OFFSET:pci.flex_size(max_nr)]
        body = body[:len(body) // pci.PCI_DEV_SER_SIZE * pci.PCI_DEV_SER_SIZE]
        for _slot, domain, bdf, _rc in pci.decode_entries(body):
            fn = fabric.route(domain, bdf >> 8, bdf & 0xFF)
            if fn is not None and fn.is_bridge:
                continue
            files.append((handler, 0, pci.xa_key(domain, bdf)))
    return [(DEFAULT_SESSION, files)] if files else []


class SimpleAllocator:
    """Deterministic kho_alloc_preserve()/kho_unpreserve_free() stand-in: the default of a
    Kernel booted without an allocator (see the module docstring)."""

    BASE = 0x1_0000_0000

    def __init__(self, used: dict | None = None):
        self.used = dict(used or {})            # pa -> order

    def alloc_preserve(self, size: int) -> int:
        order = get_order(size)
        span = PAGE << order
        pa = self.BASE
        for base in sorted(self.used):
            end = base + (PAGE << self.used[base])
            if pa + span <= base:
                break
            if end > pa:
                pa = (end + span - 1) // span * span
        self.used[pa] = order
        return pa

    def free(self, pa: int) -> None:
        self.used.pop(pa, None)

    def to_state(self) -> dict:
        return {str(k): v for k, v in self.used.items()}

    @classmethod
    def from_state(cls, d) -> "SimpleAllocator":
        return cls({int(k): v for k, v in (d or {}).items()})
