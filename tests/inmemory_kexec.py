# SPDX-License-Identifier: GPL-2.0-only
"""A kexec without physical memory, for the kernel's own tests.

The product path hands over through physical memory (``pcilu_cli.state.Machine.kexec``:
KHO root, LUO, the FLB pages). The kernel tests exercise the PCI core alone, so here the next
kernel reads the previous one's :class:`~pcilu_cli.kernel.handover.Handover` straight from
Python objects:

* :class:`InMemoryIncoming` offers what the kernel reads of an incoming hand-over (the
  ``Incoming`` protocol of ``pcilu_cli.kernel.handover``): ``flb(name)``, ``read(pa, n)`` (the
  rest of a preserved folio reads as zero) and ``sessions``;
* :func:`next_kernel` boots generation N+1 over a hand-over, with the same profile and
  command line unless told otherwise.
"""
from __future__ import annotations

from pcilu_cli.abi.page import get_order
from pcilu_cli.kernel import Kernel
from pcilu_cli.kernel.handover import RAW_BLOB_PA, Handover, Incoming, raw_blob_sessions

PAGE = 4096


class InMemoryIncoming(Incoming):
    def __init__(self, flbs: dict | None = None, blocks: dict | None = None,
                 sessions: list | None = None):
        self.flbs = dict(flbs or {})            # name -> (data_pa, count)
        self.blocks = dict(blocks or {})        # pa -> bytes
        self.sessions = list(sessions or [])

    def flb(self, name: str):
        return self.flbs.get(name)

    def read(self, pa: int, n: int) -> bytes:
        for base, data in self.blocks.items():
            room = PAGE << get_order(len(data))
            if base <= pa < base + max(len(data), room):
                off = pa - base
                chunk = data[off:off + n]
                return bytes(chunk) + b"\0" * max(0, min(n, room - off) - len(chunk))
        return b""

    @classmethod
    def from_handover(cls, h: Handover) -> "InMemoryIncoming":
        flbs, blocks = {}, {}
        for pa, data in h.pages:
            blocks[pa] = bytes(data)
        for name, pa, count, blob in h.flbs:
            flbs[name] = (pa, count)
            if blob or pa not in blocks:
                blocks[pa] = bytes(blob)
        return cls(flbs, blocks, h.sessions)

    @classmethod
    def from_raw_blob(cls, fabric, blob: bytes, compatible: str,
                      pa: int = RAW_BLOB_PA) -> "InMemoryIncoming":
        """A raw ``struct pci_ser`` as the FLB data (what ``kexec --flb`` boots from)."""
        sessions = raw_blob_sessions(fabric, blob)
        count = sum(len(files) for _name, files in sessions)
        return cls({compatible: (pa, count)}, {pa: bytes(blob)}, sessions)


def next_kernel(k: Kernel, handover: Handover, profile=None, params=None, **kw) -> Kernel:
    """Boot the generation after ``k`` over ``handover`` (``k.kexec()``'s result)."""
    return Kernel.boot(handover.fabric, profile=profile or k.profile,
                       params=k.params if params is None else params,
                       incoming=InMemoryIncoming.from_handover(handover),
                       generation=handover.generation, **kw)
