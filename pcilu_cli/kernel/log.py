# SPDX-License-Identifier: GPL-2.0-only
"""The kernel log of one generation (``printk`` as the PCI core uses it).

Entries are ``(level, text)``. ``text`` is the line the kernel prints: ``pr_*`` lines carry the
profile's ``pr_fmt`` (``"PCI: liveupdate: "``), ``pci_*``/``dev_*`` lines are
``"<driver-or-bus> <DDDD:BB:DD.F>: <text>"``. We always print the bus name ``pci`` (pcilu does
not model driver binding, so no ``vfio-pci``/``pcieport`` prefixes).

Levels: ``debug`` (pr_debug/pci_dbg: recorded, not shown unless asked — dynamic debug is off
by default), ``info``, ``warn``, ``err``, ``emerg``, and ``WARN`` for WARN()/pci_WARN*(), which
the kernel follows with a ``WARNING:`` backtrace; :meth:`lines` marks them with a leading
``WARNING: ``.
"""
from __future__ import annotations

from pcilu_cli.abi.bdf import format_bdf

DEBUG, INFO, WARNING, ERR, EMERG, WARN = "debug", "info", "warn", "err", "emerg", "WARN"

dev_name = format_bdf          # dev_name() of a struct pci_dev, from its address


class KernelLog:
    """``keep_debug`` is dynamic debug: off by default, as in the kernel, so pr_debug()/pci_dbg()
    lines are not recorded (``dyndbg=`` on the command line turns them on)."""

    __slots__ = ("entries", "once", "keep_debug")

    def __init__(self, keep_debug: bool = True):
        self.entries: list[tuple[str, str]] = []
        self.once: set[str] = set()
        self.keep_debug = keep_debug

    def __len__(self):
        return len(self.entries)

    def add(self, level: str, text: str) -> None:
        if level == DEBUG and not self.keep_debug:
            return
        self.entries.append((level, text))

    def add_once(self, key: str, level: str, text: str) -> None:
        # pr_info_once / WARN_ONCE: once per boot (per call site)
        if key in self.once:
            return
        self.once.add(key)
        self.entries.append((level, text))

    def lines(self, start: int = 0, *, debug: bool = False) -> list[str]:
        out = []
        for level, text in self.entries[start:]:
            if level == DEBUG and not debug:
                continue
            out.append("WARNING: " + text if level == WARN else text)
        return out

    def to_state(self) -> dict:
        return {"entries": [list(e) for e in self.entries], "once": sorted(self.once)}

    @classmethod
    def from_state(cls, d: dict | None, keep_debug: bool = True) -> "KernelLog":
        log = cls(keep_debug)
        if d:
            log.entries = [(e[0], e[1]) for e in d.get("entries", [])]
            log.once = set(d.get("once", []))
        return log
