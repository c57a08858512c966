# SPDX-License-Identifier: GPL-2.0-only
"""Turn a flat list of (address, raw config bytes) into a physical fabric, as enumeration would.

Shared by the lspci-dump and sysfs importers.  The parent of a function on bus B in domain D is
the type-1/CardBus function in D whose [secondary, subordinate] is the narrowest range that
contains B (pci-fabric.md §1.9 step 5); a bridge whose registers are invalid has no subordinate
bus.  A bus no bridge covers is a root bus.  Registers are kept exactly as read.

API:
    RawFunction(domain, bus, devfn, data, where, line=None, sysfs_parent=None)
    fabric_from_raw(raws, file, name, source) -> Fabric   (raises BadInput; diagnostics are
                                                            appended to fabric.diagnostics)
"""
from __future__ import annotations

from dataclasses import dataclass

from pcilu_cli.errors import BadInput, Diagnostic
from pcilu_cli.abi.bdf import format_bdf
from pcilu_cli.abi.pci_regs import (
    PCI_CAP_ID_EXP, PCI_HEADER_TYPE, PCI_HEADER_TYPE_BRIDGE, PCI_HEADER_TYPE_CARDBUS,
    PCI_HEADER_TYPE_MASK, PCI_PRIMARY_BUS, PCI_SECONDARY_BUS, PCI_SUBORDINATE_BUS,
)
from pcilu_cli.fabric.build import check_topology
from pcilu_cli.fabric.config import ConfigSpace
from pcilu_cli.fabric.model import Fabric, Function


@dataclass
class RawFunction:
    domain: int
    bus: int
    devfn: int
    data: bytes
    where: str                      # file name (dump) or config path (sysfs)
    line: int | None = None
    sysfs_parent: str | None = None  # sysfs nesting: parent BDF, "" = host bridge, None = ?

    @property
    def bdf(self) -> str:
        return format_bdf(self.domain, self.bus, self.devfn)


def _bridge_range(data: bytes, bus: int):
    """(secondary, subordinate) of a sane-looking bridge, or None (mirrors the checks of
    pci_scan_bridge_extend(), including the "Primary bus is hard wired to 0" fix-up)."""
    if len(data) <= PCI_SUBORDINATE_BUS or (data[PCI_HEADER_TYPE] & PCI_HEADER_TYPE_MASK) \
            not in (PCI_HEADER_TYPE_BRIDGE, PCI_HEADER_TYPE_CARDBUS):
        return None
    p, s, sub = data[PCI_PRIMARY_BUS], data[PCI_SECONDARY_BUS], data[PCI_SUBORDINATE_BUS]
    if p == 0 and p != bus and s and sub:
        p = bus
    if s == 0 and sub == 0 or s <= bus or s > sub:
        return None
    return s, sub


def fabric_from_raw(raws: list[RawFunction], file: str, name: str, source: dict) -> Fabric:
    seen = {}
    for r in raws:
        key = (r.domain, r.bus, r.devfn)
        if key in seen:
            raise BadInput(f"duplicate function {r.bdf} (first at line {seen[key].line})"
                           if seen[key].line else f"duplicate function {r.bdf}",
                           file=r.where, line=r.line, field=r.bdf)
        seen[key] = r
    # narrowest enclosing bridge per (domain, bus)
    bridges = {}
    for r in raws:
        rng = _bridge_range(r.data, r.bus)
        if rng is not None:
            bridges.setdefault(r.domain, []).append((rng, r))
    parent_of: dict[int, RawFunction | None] = {}
    diags: list[Diagnostic] = []
    cover_cache = {}
    for r in raws:
        ck = (r.domain, r.bus)
        if ck not in cover_cache:
            best = None
            for (s, sub), br in bridges.get(r.domain, ()):
                if s <= r.bus <= sub and (best is None or sub - s < best[0][1] - best[0][0]):
                    best = ((s, sub), br)
            cover_cache[ck] = best
        best = cover_cache[ck]
        if best is not None and best[0][0] != r.bus:
            # covered, but no bridge in the data has this bus as its secondary: the dump
            # lacks the intermediate bridge.  Keep it reachable as a root bus and say so.
            diags.append(Diagnostic(
                f"{r.bdf}: bus {r.bus:02x} lies inside {best[1].bdf}'s bus range "
                f"[{best[0][0]:02x}-{best[0][1]:02x}] but no bridge in the input has it as "
                "secondary bus; placed on a root bus", file=r.where, line=r.line,
                field=r.bdf))
            best = None
        parent_of[id(r)] = best[1] if best is not None else None
        if r.sysfs_parent is not None:
            derived = best[1].bdf if best is not None else ""
            if derived != r.sysfs_parent:
                diags.append(Diagnostic(
                    f"{r.bdf}: sysfs places it below {r.sysfs_parent or 'a host bridge'} "
                    "but the bus registers "
                    f"give {derived or 'a root bus'}; using the registers", file=r.where,
                    field=r.bdf))
    fab = Fabric(name, source, {})
    made: dict[int, Function] = {}

    def depth(r):
        d = 0
        p = parent_of[id(r)]
        while p is not None and d < 300:
            d += 1
            p = parent_of[id(p)]
        return d

    order = sorted(raws, key=lambda r: (depth(r), r.domain, r.bus, r.devfn))
    for r in order:
        fn = Function(r.bdf, r.devfn, ConfigSpace.from_bytes(r.data))
        up = parent_of[id(r)]
        target = made[id(up)] if up is not None else fab.add_root(r.domain, r.bus)
        try:
            fab.attach(fn, target)
        except ValueError as e:
            raise BadInput(str(e), file=r.where, line=r.line, field=r.bdf) from None
        made[id(r)] = fn
    for uid, field, msg in check_topology(fab):
        r = next(x for x in raws if x.bdf == uid)
        raise BadInput(f"{uid}: {msg}", file=r.where, line=r.line, field=f"{uid}.{field}")
    for r in raws:
        fn = made[id(r)]
        if fab.current_bdf(fn) != (r.domain, r.bus, r.devfn):
            diags.append(Diagnostic(f"{r.bdf}: not reachable at its address through the bus "
                                    "registers as read", file=r.where, line=r.line,
                                    field=r.bdf))
    fab.sync_all_virtfns()
    short = [r for r in raws if len(r.data) < 256]
    if short:
        diags.append(Diagnostic(
            f"{len(short)} of {len(raws)} functions have only {min(len(r.data) for r in short)}"
            " bytes of config space: capabilities (PCIe port type, ACS, ARI, SR-IOV) are "
            "unknown for them", file=file))
    mid = [r for r in raws if 64 < len(r.data) < 4096 and _has_pcie(r.data)]
    if mid:
        diags.append(Diagnostic(
            f"{len(mid)} PCIe functions have only 256 bytes of config space: extended "
            "capabilities (ACS, ARI, SR-IOV) are unknown for them", file=file))
    fab.diagnostics.extend(diags)
    return fab


def _has_pcie(data: bytes) -> bool:
    cfg = ConfigSpace.from_bytes(data)
    return cfg.find_capability(PCI_CAP_ID_EXP) is not None
