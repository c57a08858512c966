# SPDX-License-Identifier: GPL-2.0-only
"""The PCI fabric as hardware: a physical tree of functions whose bus numbers live in registers.

A function's bus number is not stored anywhere: it is whatever its upstream bridge's Secondary
Bus Number register currently says (or the root bus number for functions on a root bus).
Config accesses are routed like real type-0/type-1 config cycles, so when a bridge loses its
bus registers (reset) the devices behind it become unreachable until the bridge is programmed
again.

Public API (the kernel layer codes against this):

    Function                      one hardware PCI function
      uid: str                    stable physical identity (the BDF the fabric file gave it)
      devfn: int                  fixed by the slot (for a VF: its RID's low byte)
      cfg: ConfigSpace            the register file; every accessor below reads/writes it
      upstream: Function|None     bridge whose secondary link it sits on (None: root bus);
                                  for a VF, the PF's upstream (pci_upstream_bridge semantics)
      root: RootBus               root bus of its tree (root.domain, root.number)
      downstream: dict[int, Function]   bridges: functions on the secondary link, by devfn
                                  (physical functions only; VFs live in ``virtual``)
      virtual: dict[(delta, devfn), Function]  VFs on this link; delta = bus offset above the
                                  link's secondary bus (the bridge-less "virtual" buses)
      knobs: dict                 facts not in config space: reset_on_kexec (bool),
                                  acs_quirk (bool), power_state ("D3cold" only lives here)
      is_virtfn, physfn, vf_index, virtfns (list, PFs)
      decoded accessors (read config every time): vendor, device, revision, class_code,
        header_type, multifunction, is_bridge, is_cardbus, command (settable),
        bus_master (settable), primary/secondary/subordinate (settable),
        set_bus_numbers(p, s, sub) (one dword write, keeps the latency byte),
        pcie_cap, pcie_flags, pcie_version, pcie_type (str|None),
        ari_forwarding_supported, ari_forwarding (settable),
        acs_cap_offset, acs_cap, acs_ctrl (settable), ari_cap, ari_next_function,
        sriov_offset, sriov (SriovInfo|None), power_state (settable)
      For a VF, ``vendor``/``device`` are the kernel's view (PF vendor, PF's VF Device ID);
      the VF's own registers read 0xffff as the SR-IOV spec says.

    RootBus: domain, number, functions (dict devfn -> Function; alias ``downstream``),
             virtual, bridges

    Fabric
      name, source, platform (assign_all_busses, iommu, cmdline, ...), roots
      functions(include_virtfns=True) -> Iterator[Function]   depth-first, VFs after their PF
      route(domain, bus, devfn) -> Function|None     config-cycle routing, current registers
      answering(domain, bus) -> {devfn: Function}     route() of every devfn of a bus at once
      responders(domain, bus) -> [devfn]              its devfns, in increasing order
      config_read(domain, bus, devfn, off, width) -> int     all-ones if nobody answers
      config_write(domain, bus, devfn, off, width, value)    ignored if nobody answers
      by_uid(uid) -> Function (KeyError if unknown); has_uid(uid)
      current_bdf(fn) -> (domain, bus, devfn) | None
      reset_function(fn)           Secondary Bus Reset / power loss on one function
      sync_virtfns(pf)             (re)create the VFs from the PF's current SR-IOV registers;
                                   config_write() on a PF's SR-IOV control/NumVFs calls it
      sync_all_virtfns()           sync_virtfns() for every PF whose VFs are enabled
      invalidate_routes()          drop the routing caches (topology or registers changed)
      add_root(domain, number) / attach(fn, parent_or_root, devfn) / detach(fn)
      copy() -> Fabric             deep copy (copy-on-write config bytes)
      to_bytes() -> bytes / Fabric.from_bytes(data) -> Fabric
"""
from __future__ import annotations

import bisect
import json
import zlib
from types import MappingProxyType

TYPE_CHECKING = False      # (typing.TYPE_CHECKING, without importing typing at every start)
if TYPE_CHECKING:
    from typing import Iterator

from pcilu_cli.abi.bdf import format_bdf, format_bus, parse_bdf
from pcilu_cli.abi.fabric_file import (
    FABRIC_BODY, FABRIC_BODY_V1, FABRIC_HEADER, FABRIC_MAGIC, FABRIC_RECORD, FABRIC_VERSION,
    FABRIC_VERSIONS,
)
from pcilu_cli.abi.pci_regs import (
    PCI_ARI_CAP, PCI_ARI_CAP_NFN_SHIFT, PCI_ACS_CAP, PCI_ACS_CTRL, PCI_CAP_ID_EXP, PCI_CAP_ID_PM,
    PCI_CFG_SPACE_SIZE, PCI_COMMAND, PCI_COMMAND_MASTER, PCI_DEVICE_ID, PCI_EXP_DEVCAP2,
    PCI_EXP_DEVCAP2_ARI, PCI_EXP_DEVCTL2, PCI_EXP_DEVCTL2_ARI, PCI_EXP_FLAGS, PCI_EXP_FLAGS_VERS,
    PCI_EXT_CAP_ID_ACS, PCI_EXT_CAP_ID_ARI, PCI_EXT_CAP_ID_SRIOV, PCI_HEADER_TYPE,
    BRIDGE_HEADER_TYPES, PCI_HEADER_TYPE_CARDBUS, PCI_HEADER_TYPE_MASK, PCI_HEADER_TYPE_MFD,
    PCI_PM_CTRL, PCI_PM_CTRL_STATE_MASK, PCI_PRIMARY_BUS, PCI_REVISION_ID, PCI_SECONDARY_BUS,
    PCI_SRIOV_CTRL, PCI_SRIOV_CTRL_ARI, PCI_SRIOV_CTRL_VFE, PCI_SRIOV_NUM_VF, PCI_SRIOV_TOTAL_VF,
    PCI_SRIOV_VF_DID, PCI_SRIOV_VF_OFFSET, PCI_SRIOV_VF_STRIDE, PCI_SUBORDINATE_BUS,
    PCI_VENDOR_ID, POWER_STATES, port_type_word, split_bus_numbers, with_bus_numbers,
)
from pcilu_cli.errors import BadInput, FrozenValue
from pcilu_cli.fabric.config import BUS_EPOCH, CONFIG_EPOCH, ConfigSpace

_EMPTY_MAP = MappingProxyType({})


class SriovInfo(FrozenValue):
    """Decoded SR-IOV capability of a PF (values as the registers read now). A read-only
    value; a plain class rather than a frozen dataclass, whose methods would be generated at
    every start that loads a fabric."""

    __slots__ = ("offset", "total_vfs", "num_vfs", "vf_enable", "first_vf_offset",
                 "vf_stride", "vf_device", "ari_capable_hierarchy")
    FIELDS = __slots__

    def __init__(self, offset: int, total_vfs: int, num_vfs: int, vf_enable: bool,
                 first_vf_offset: int, vf_stride: int, vf_device: int,
                 ari_capable_hierarchy: bool):
        for name, value in zip(self.__slots__, (offset, total_vfs, num_vfs, vf_enable,
                                                first_vf_offset, vf_stride, vf_device,
                                                ari_capable_hierarchy)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r} (SriovInfo is read-only)")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r} (SriovInfo is read-only)")



class Function:
    """One PCI function (hardware). See the module docstring for the accessors."""

    __slots__ = ("uid", "devfn", "cfg", "upstream", "root", "downstream", "virtual", "bridges",
                 "_knobs", "physfn", "vf_index", "vbus_delta", "virtfns", "fabric",
                 "__weakref__")

    def __init__(self, uid: str, devfn: int, cfg: ConfigSpace, knobs: dict | None = None):
        self.uid = uid
        self.devfn = devfn
        self.cfg = cfg
        self.upstream: Function | None = None
        self.root: RootBus | None = None
        self.downstream = _EMPTY_MAP
        self.virtual = _EMPTY_MAP
        self.bridges = ()   # bridges on the secondary link, devfn order (list once non-empty)
        self._knobs = dict(knobs) if knobs else None
        self.physfn: Function | None = None
        self.vf_index: int | None = None
        self.vbus_delta = 0     # VFs: bus offset above the PF's link bus
        self.virtfns: list | None = None
        self.fabric: Fabric | None = None

    def __repr__(self):
        return f"<Function {self.uid} devfn={self.devfn:#04x}>"

    # -- knobs ------------------------------------------------------------------------------
    @property
    def knobs(self) -> dict:
        if self._knobs is None:
            self._knobs = {}
        return self._knobs

    @knobs.setter
    def knobs(self, value: dict):
        self._knobs = dict(value) if value else None

    def knob(self, name, default=None):
        k = self._knobs
        return default if k is None else k.get(name, default)

    # -- header ----------------------------------------------------------------------------
    @property
    def is_virtfn(self) -> bool:
        return self.physfn is not None

    @property
    def vendor(self) -> int:
        if self.physfn is not None:
            return self.physfn.vendor
        return self.cfg.read(PCI_VENDOR_ID, 2)

    @property
    def device(self) -> int:
        if self.physfn is not None:
            sr = self.physfn.sriov
            return sr.vf_device if sr else 0xFFFF
        return self.cfg.read(PCI_DEVICE_ID, 2)

    @property
    def revision(self) -> int:
        return self.cfg.read(PCI_REVISION_ID, 1)

    @property
    def class_code(self) -> int:
        return self.cfg.read(PCI_REVISION_ID, 4) >> 8

    @property
    def header_type(self) -> int:
        return self.cfg.read(PCI_HEADER_TYPE, 1) & PCI_HEADER_TYPE_MASK

    @property
    def multifunction(self) -> bool:
        return bool(self.cfg.read(PCI_HEADER_TYPE, 1) & PCI_HEADER_TYPE_MFD)

    @property
    def is_bridge(self) -> bool:
        """pci_is_bridge(): header type 1 or 2 (never decided from the PCIe port type)."""
        return self.header_type in BRIDGE_HEADER_TYPES

    @property
    def is_cardbus(self) -> bool:
        return self.header_type == PCI_HEADER_TYPE_CARDBUS

    @property
    def command(self) -> int:
        return self.cfg.read(PCI_COMMAND, 2)

    @command.setter
    def command(self, value: int):
        self.cfg.write(PCI_COMMAND, 2, value)

    @property
    def bus_master(self) -> bool:
        return bool(self.cfg.read(PCI_COMMAND, 2) & PCI_COMMAND_MASTER)

    @bus_master.setter
    def bus_master(self, on: bool):
        cmd = self.cfg.read(PCI_COMMAND, 2)
        new = (cmd | PCI_COMMAND_MASTER) if on else (cmd & ~PCI_COMMAND_MASTER)
        if new != cmd:  # __pci_set_master() writes only on change
            self.cfg.write(PCI_COMMAND, 2, new)

    # -- bus numbers (type 1 / CardBus) ----------------------------------------------------
    @property
    def primary(self) -> int:
        return self.cfg.read(PCI_PRIMARY_BUS, 1)

    @primary.setter
    def primary(self, v: int):
        self.cfg.write(PCI_PRIMARY_BUS, 1, v)

    @property
    def secondary(self) -> int:
        return self.cfg.read(PCI_SECONDARY_BUS, 1)

    @secondary.setter
    def secondary(self, v: int):
        self.cfg.write(PCI_SECONDARY_BUS, 1, v)

    @property
    def subordinate(self) -> int:
        return self.cfg.read(PCI_SUBORDINATE_BUS, 1)

    @subordinate.setter
    def subordinate(self, v: int):
        self.cfg.write(PCI_SUBORDINATE_BUS, 1, v)

    def bus_numbers(self) -> tuple[int, int, int]:
        return split_bus_numbers(self.cfg.read(PCI_PRIMARY_BUS, 4))

    def set_bus_numbers(self, primary: int, secondary: int, subordinate: int) -> None:
        """One dword write of 0x18, keeping the secondary latency byte (as Linux does)."""
        dw = with_bus_numbers(self.cfg.read(PCI_PRIMARY_BUS, 4), primary, secondary, subordinate)
        self.cfg.write(PCI_PRIMARY_BUS, 4, dw)

    # -- PCI Express capability ------------------------------------------------------------
    @property
    def pcie_cap(self) -> int | None:
        return self.cfg.find_capability(PCI_CAP_ID_EXP)

    @property
    def pcie_flags(self) -> int | None:
        p = self.pcie_cap
        return None if p is None else self.cfg.read(p + PCI_EXP_FLAGS, 2)

    @property
    def pcie_version(self) -> int | None:
        f = self.pcie_flags
        return None if f is None else f & PCI_EXP_FLAGS_VERS

    @property
    def pcie_type(self) -> str | None:
        f = self.pcie_flags
        if f is None:
            return None
        return port_type_word(f)

    def _pcie_v2(self) -> int | None:
        p = self.pcie_cap
        if p is None or (self.cfg.read(p + PCI_EXP_FLAGS, 2) & PCI_EXP_FLAGS_VERS) < 2:
            return None  # v1 capabilities have no DevCap2/DevCtl2
        return p

    @property
    def ari_forwarding_supported(self) -> bool:
        p = self._pcie_v2()
        return p is not None and bool(self.cfg.read(p + PCI_EXP_DEVCAP2, 4) & PCI_EXP_DEVCAP2_ARI)

    @property
    def ari_forwarding(self) -> bool:
        p = self._pcie_v2()
        return p is not None and bool(self.cfg.read(p + PCI_EXP_DEVCTL2, 2) & PCI_EXP_DEVCTL2_ARI)

    @ari_forwarding.setter
    def ari_forwarding(self, on: bool):
        p = self._pcie_v2()
        if p is None:
            return  # register not implemented: the write goes nowhere
        v = self.cfg.read(p + PCI_EXP_DEVCTL2, 2)
        v = (v | PCI_EXP_DEVCTL2_ARI) if on else (v & ~PCI_EXP_DEVCTL2_ARI)
        self.cfg.write(p + PCI_EXP_DEVCTL2, 2, v)

    # -- ACS / ARI / SR-IOV extended capabilities ------------------------------------------
    @property
    def acs_cap_offset(self) -> int | None:
        return self.cfg.find_ext_capability(PCI_EXT_CAP_ID_ACS)

    @property
    def acs_cap(self) -> int | None:
        p = self.acs_cap_offset
        return None if p is None else self.cfg.read(p + PCI_ACS_CAP, 2)

    @property
    def acs_ctrl(self) -> int | None:
        p = self.acs_cap_offset
        return None if p is None else self.cfg.read(p + PCI_ACS_CTRL, 2)

    @acs_ctrl.setter
    def acs_ctrl(self, value: int):
        p = self.acs_cap_offset
        if p is not None:
            self.cfg.write(p + PCI_ACS_CTRL, 2, value)

    @property
    def ari_cap(self) -> int | None:
        return self.cfg.find_ext_capability(PCI_EXT_CAP_ID_ARI)

    @property
    def ari_next_function(self) -> int | None:
        p = self.ari_cap
        if p is None:
            return None
        return (self.cfg.read(p + PCI_ARI_CAP, 2) >> PCI_ARI_CAP_NFN_SHIFT) & 0xFF

    @property
    def sriov_offset(self) -> int | None:
        return self.cfg.find_ext_capability(PCI_EXT_CAP_ID_SRIOV)

    @property
    def sriov(self) -> SriovInfo | None:
        p = self.sriov_offset
        if p is None:
            return None
        r = self.cfg.read
        ctrl = r(p + PCI_SRIOV_CTRL, 2)
        return SriovInfo(offset=p, total_vfs=r(p + PCI_SRIOV_TOTAL_VF, 2),
                         num_vfs=r(p + PCI_SRIOV_NUM_VF, 2),
                         vf_enable=bool(ctrl & PCI_SRIOV_CTRL_VFE),
                         first_vf_offset=r(p + PCI_SRIOV_VF_OFFSET, 2),
                         vf_stride=r(p + PCI_SRIOV_VF_STRIDE, 2),
                         vf_device=r(p + PCI_SRIOV_VF_DID, 2),
                         ari_capable_hierarchy=bool(ctrl & PCI_SRIOV_CTRL_ARI))

    # -- power -----------------------------------------------------------------------------
    @property
    def power_state(self) -> str:
        """D0..D3hot from the PM capability's PMCSR if present; D3cold is a knob (no config
        cycle reaches a function without power)."""
        k = self.knob("power_state")
        if k == "D3cold":
            return k
        pm = self.cfg.find_capability(PCI_CAP_ID_PM)
        if pm is not None:
            return POWER_STATES[self.cfg.read(pm + PCI_PM_CTRL, 2) & PCI_PM_CTRL_STATE_MASK]
        return k or "D0"

    @power_state.setter
    def power_state(self, state: str):
        if state not in POWER_STATES:
            raise ValueError(f"unknown power state {state!r}")
        pm = self.cfg.find_capability(PCI_CAP_ID_PM)
        BUS_EPOCH[0] += 1  # a bridge losing power stops forwarding: drop routing caches
        CONFIG_EPOCH[0] += 1
        if state == "D3cold":
            self.knobs["power_state"] = state
            return
        if self._knobs and "power_state" in self._knobs:
            del self._knobs["power_state"]
        if pm is not None:
            v = self.cfg.read(pm + PCI_PM_CTRL, 2)
            self.cfg.write(pm + PCI_PM_CTRL, 2, (v & ~PCI_PM_CTRL_STATE_MASK)
                           | POWER_STATES.index(state))
        elif state != "D0":
            self.knobs["power_state"] = state

    # -- internals -------------------------------------------------------------------------
    @property
    def link(self):
        """The link (bridge Function or RootBus) this function sits on."""
        if self.physfn is not None:
            return self.physfn.link
        return self.upstream if self.upstream is not None else self.root


class RootBus:
    """A root bus of a host bridge: domain (segment) and bus number, and what sits on it."""

    __slots__ = ("domain", "number", "functions", "virtual", "bridges")

    def __init__(self, domain: int, number: int):
        self.domain = domain
        self.number = number
        self.functions: dict[int, Function] = {}
        self.virtual: dict = {}
        self.bridges: list = []

    @property
    def downstream(self) -> dict:
        return self.functions

    def __repr__(self):
        return f"<RootBus {format_bus(self.domain, self.number)}>"


_SIZE_CODES = {64: 0, 128: 1, 256: 2, 4096: 3}
# zlib level of a serialized fabric: 1, as the kernel note (at 65,536 functions level 6 took
# 0.14 s of a 0.28 s encode for a note 13% smaller)
LEVEL = 1
_SIZES = {v: k for k, v in _SIZE_CODES.items()}


class Fabric:
    """A machine's PCI hardware. See the module docstring for the API."""

    def __init__(self, name: str = "fabric", source: dict | None = None,
                 platform: dict | None = None):
        self.name = name
        self.source = dict(source or {})
        self.platform = dict(platform or {})
        self.roots: list[RootBus] = []
        self._by_uid: dict[str, Function] = {}
        self._domains: dict[int, list[RootBus]] = {}   # sorted by number
        self._domain_nums: dict[int, list[int]] = {}
        self._route_cache: dict = {}
        self._link_index: dict = {}     # id(link) -> _link_decoder(link), same epoch
        self._cache_epoch = -1
        self.diagnostics: list = []   # Diagnostic objects produced while loading
        # (CONFIG_EPOCH, bytes, knobs/metadata fingerprint) of the serialization this fabric was
        # decoded from: to_bytes() returns those bytes while nothing has changed since
        self._encoded = None
        # topology changes so far, and (that count, the functions in record order, their
        # record table, uid ends + orders, uid text) as last read or written: a save whose
        # topology did not change since reuses them (to_bytes)
        self._topology = 0
        self._layout = None

    # -- building --------------------------------------------------------------------------
    def add_root(self, domain: int, number: int) -> RootBus:
        for r in self._domains.get(domain, ()):
            if r.number == number:
                return r
        rb = RootBus(domain, number)
        self.roots.append(rb)
        self.roots.sort(key=lambda r: (r.domain, r.number))
        lst = self._domains.setdefault(domain, [])
        lst.append(rb)
        lst.sort(key=lambda r: r.number)
        self._domain_nums[domain] = [r.number for r in lst]
        self._topology_changed()
        return rb

    def attach(self, fn: Function, parent: "Function | RootBus", devfn: int | None = None) -> Function:
        """Plug ``fn`` into ``parent``'s secondary link (a bridge) or onto a root bus."""
        if fn.uid in self._by_uid:
            raise ValueError(f"duplicate function uid {fn.uid}")
        if devfn is not None:
            fn.devfn = devfn
        if isinstance(parent, RootBus):
            link_map = parent.functions
            fn.upstream, fn.root = None, parent
        else:
            if parent.downstream is _EMPTY_MAP:
                parent.downstream = {}
            link_map = parent.downstream
            fn.upstream, fn.root = parent, parent.root
        if fn.devfn in link_map:
            raise ValueError(f"devfn {fn.devfn:#04x} already taken below {parent!r}")
        link_map[fn.devfn] = fn
        if fn.is_bridge:
            parent.bridges = sorted([*parent.bridges, fn], key=lambda f: f.devfn)
        fn.fabric = self
        self._by_uid[fn.uid] = fn
        self._topology_changed()
        return fn

    def detach(self, fn: Function) -> None:
        """Unplug ``fn`` with everything below it (hot-remove of the hardware)."""
        for sub in list(self._subtree(fn)):
            self._by_uid.pop(sub.uid, None)
        if fn.physfn is not None:
            link = fn.physfn.link
            link.virtual = {k: v for k, v in link.virtual.items() if v is not fn}
            fn.physfn.virtfns = [v for v in fn.physfn.virtfns if v is not fn]
        else:
            link = fn.link
            link.downstream.pop(fn.devfn, None)
            if fn in link.bridges:
                link.bridges = [b for b in link.bridges if b is not fn]
            for vf in fn.virtfns or ():
                link.virtual = {k: v for k, v in link.virtual.items() if v is not vf}
        self._topology_changed()

    def _subtree(self, fn: Function) -> Iterator[Function]:
        yield fn
        for vf in fn.virtfns or ():
            yield vf
        for child in sorted(fn.downstream.values(), key=lambda f: f.devfn):
            yield from self._subtree(child)

    # -- iteration / lookup ------------------------------------------------------------------
    def functions(self, include_virtfns: bool = True) -> Iterator[Function]:
        """Every function, depth-first in (domain, root bus, devfn) order; VFs follow their PF."""
        stack = []
        for root in reversed(self.roots):
            stack.extend(root.functions[d] for d in sorted(root.functions, reverse=True))
        while stack:
            fn = stack.pop()
            yield fn
            if include_virtfns and fn.virtfns:
                yield from fn.virtfns
            ds = fn.downstream
            if ds:
                stack.extend(ds[d] for d in sorted(ds, reverse=True))

    def __len__(self):
        return len(self._by_uid)

    def by_uid(self, uid: str) -> Function:
        return self._by_uid[uid]

    def has_uid(self, uid: str) -> bool:
        return uid in self._by_uid

    def domains(self) -> list[int]:
        return sorted(self._domains)

    # -- routing -----------------------------------------------------------------------------
    def _topology_changed(self) -> None:
        CONFIG_EPOCH[0] += 1
        self.invalidate_routes()
        self._topology += 1

    def invalidate_routes(self) -> None:
        """Drop the routing caches after the topology or bus registers changed behind them."""
        self._route_cache.clear()
        self._link_index.clear()

    def _root_for(self, domain: int, bus: int):
        nums = self._domain_nums.get(domain)
        if not nums:
            return None, 0
        # a host bridge decodes [its root bus number, the next root bus number - 1]
        i = bisect.bisect_right(nums, bus) - 1
        if i < 0:
            return None, 0
        end = nums[i + 1] - 1 if i + 1 < len(nums) else 0xFF
        return self._domains[domain][i], end

    def _find_link(self, domain: int, bus: int):
        """Return (link, link_bus) whose link decodes ``bus``, or (None, 0).

        Walks root → bridges comparing each bridge's live [secondary, subordinate]; results
        are cached per (domain, bus) until any bus register anywhere is written
        (config.BUS_EPOCH) or the topology changes, so steady-state routing is O(1) and a
        fresh walk is O(depth × bridges per link)."""
        ep = BUS_EPOCH[0]
        cache = self._route_cache
        if self._cache_epoch != ep:
            self.invalidate_routes()
            self._cache_epoch = ep
        key = (domain << 8) | bus
        hit = cache.get(key)
        if hit is not None:
            return hit
        root, end = self._root_for(domain, bus)
        if root is None or bus > end:
            res = (None, 0)
        else:
            link, link_bus = root, root.number
            idx = self._link_index
            while bus != link_bus:
                ent = idx.get(id(link))
                if ent is None:
                    ent = idx[id(link)] = self._link_decoder(link)
                secs, ranges = ent
                if secs is not None:
                    # disjoint ranges in increasing order: only the last one starting at or
                    # below ``bus`` can hold it (a root bus carries dozens of root ports)
                    i = bisect.bisect_right(secs, bus) - 1
                    if i >= 0:
                        sec, sub, br = ranges[i]
                        if bus <= sub:
                            link, link_bus = br, sec
                            continue
                    break       # nobody below claims it (as in the walk below)
                for sec, sub, br in ranges:
                    if sec <= bus <= sub:
                        link, link_bus = br, sec
                        break
                else:
                    break  # nobody below claims it: a VF "virtual" bus on this link, or nobody
            res = (link, link_bus)
        cache[key] = res
        return res

    def _link_decoder(self, link):
        """(secondaries, ranges) of ``link`` for :meth:`_find_link`: its forwarding ranges,
        and their secondary bus numbers when the ranges are disjoint and in increasing order
        (the usual case: one bisection finds the bridge), else None (walk them in order, the
        first match wins: a misprogrammed fabric may overlap)."""
        ranges = self._forwarding_ranges(link)
        prev_sub = -1
        for sec, sub, _br in ranges:
            if sec <= prev_sub:
                return None, ranges
            prev_sub = sub
        return [sec for sec, _sub, _br in ranges], ranges

    def _forwarding_ranges(self, link) -> list:
        """[(secondary, subordinate, bridge)] of the bridges on ``link`` that forward config
        cycles now, in link order (the first match wins, as in the walk it replaces); kept
        for the same epoch as the route cache."""
        out = []
        for br in link.bridges:
            _pri, sec, sub = split_bus_numbers(br.cfg.read(PCI_PRIMARY_BUS, 4))
            if sec != 0 and sec <= sub and br.knob("power_state") != "D3cold":
                out.append((sec, sub, br))
        return out

    def route(self, domain: int, bus: int, devfn: int) -> Function | None:
        """Which function answers a config cycle to (domain, bus, devfn) right now."""
        link, link_bus = self._find_link(domain, bus)
        if link is None:
            return None
        if bus == link_bus:
            fn = link.downstream.get(devfn)
            if fn is not None:
                return fn
        return link.virtual.get((bus - link_bus, devfn)) if link.virtual else None

    def responders(self, domain: int, bus: int) -> list[int]:
        """The devfns at which some function answers a config cycle on (domain, bus) right
        now, in increasing order — what probing all 256 devfns would find, in one lookup."""
        return sorted(self.answering(domain, bus))

    def answering(self, domain: int, bus: int) -> dict[int, Function]:
        """{devfn: the Function route() finds there} for every devfn of (domain, bus) that
        some function answers now (one address decode for the whole bus; unordered). Read
        only: it may be the link's own map."""
        link, link_bus = self._find_link(domain, bus)
        if link is None:
            return {}
        if not link.virtual:
            return link.downstream if bus == link_bus else {}
        out = dict(link.downstream) if bus == link_bus else {}
        if link.virtual:
            delta = bus - link_bus
            for (dl, df), vf in link.virtual.items():
                if dl == delta and df not in out:     # route(): the link's own first
                    out[df] = vf
        return out

    def config_read(self, domain: int, bus: int, devfn: int, off: int, width: int) -> int:
        fn = self.route(domain, bus, devfn)
        if fn is None or fn.knob("power_state") == "D3cold":
            return (1 << (8 * width)) - 1
        return fn.cfg.read(off, width)

    def config_write(self, domain: int, bus: int, devfn: int, off: int, width: int,
                     value: int) -> None:
        fn = self.route(domain, bus, devfn)
        if fn is None or fn.knob("power_state") == "D3cold":
            return
        fn.cfg.write(off, width, value)
        sp = fn.sriov_offset if off >= PCI_CFG_SPACE_SIZE else None
        if sp is not None and off < sp + PCI_SRIOV_NUM_VF + 2 and off + width > sp + PCI_SRIOV_CTRL:
            self.sync_virtfns(fn)

    def current_bdf(self, fn: Function) -> tuple[int, int, int] | None:
        """(domain, bus, devfn) by current registers; None if no config cycle reaches it."""
        link = fn.link
        root = fn.root
        if isinstance(link, RootBus):
            bus = link.number
        else:
            bus = link.cfg.read(PCI_SECONDARY_BUS, 1)
            if bus == 0:
                return None
        devfn = fn.devfn
        if fn.physfn is not None:
            bus += fn.vbus_delta
            if bus > 0xFF:
                return None
        if self.route(root.domain, bus, devfn) is fn:
            return root.domain, bus, devfn
        return None

    # -- state changes ------------------------------------------------------------------------
    def reset_function(self, fn: Function) -> None:
        """What a Secondary Bus Reset / power loss does to one function's registers:
        Command 0 (so BME 0), bus registers 0 (latency kept), ACS Control 0, ARI Forwarding
        Enable 0, SR-IOV VF Enable / NumVFs 0 (its VFs vanish)."""
        fn.cfg.write(PCI_COMMAND, 2, 0)
        if fn.is_bridge:
            fn.set_bus_numbers(0, 0, 0)
        p = fn.acs_cap_offset
        if p is not None:
            fn.cfg.write(p + PCI_ACS_CTRL, 2, 0)
        fn.ari_forwarding = False
        sp = fn.sriov_offset
        if sp is not None:
            ctrl = fn.cfg.read(sp + PCI_SRIOV_CTRL, 2)
            fn.cfg.write(sp + PCI_SRIOV_CTRL, 2, ctrl & ~(PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_ARI))
            fn.cfg.write(sp + PCI_SRIOV_NUM_VF, 2, 0)
            self.sync_virtfns(fn)
        self._topology_changed()

    def sync_virtfns(self, pf: Function) -> list[Function]:
        """Make the VFs match the PF's SR-IOV registers (VF Enable, NumVFs, offset, stride).

        VF i (0-based) has RID offset devfn + First VF Offset + i * VF Stride from the PF's bus
        (pci_iov_virtfn_bus()/pci_iov_virtfn_devfn()); it lives on the PF's link.
        """
        # config-space synthesis, imported here: loading a fabric without VFs needs none of it
        from pcilu_cli.fabric.function_spec import vf_config_for
        sr = pf.sriov
        want = []
        if sr is not None and sr.vf_enable and sr.num_vfs:
            for i in range(min(sr.num_vfs, sr.total_vfs or sr.num_vfs)):
                rel = pf.devfn + sr.first_vf_offset + sr.vf_stride * i
                want.append((rel >> 8, rel & 0xFF))
        link = pf.link
        old = pf.virtfns or []
        if [self._vf_key(v) for v in old] == want:
            return old
        if old:
            dead = set(map(id, old))
            link.virtual = {k: v for k, v in link.virtual.items() if id(v) not in dead}
            for v in old:
                self._by_uid.pop(v.uid, None)
        if want and link.virtual is _EMPTY_MAP:
            link.virtual = {}
        new = []
        base = _uid_bdf(pf.uid)
        for i, (delta, devfn) in enumerate(want):
            prev = old[i] if i < len(old) else None
            if base is not None:
                uid = format_bdf(base[0], base[1] + delta, devfn) if base[1] + delta <= 0xFF \
                    else f"{pf.uid}/virtfn{i}"
            else:
                uid = f"{pf.uid}/virtfn{i}"
            cfg = prev.cfg if prev is not None else vf_config_for(pf)
            vf = Function(uid, devfn, cfg)
            vf.physfn, vf.vf_index, vf.vbus_delta = pf, i, delta
            vf.upstream, vf.root, vf.fabric = pf.upstream, pf.root, self
            if uid in self._by_uid or (delta, devfn) in link.virtual:
                uid = vf.uid = f"{pf.uid}/virtfn{i}"
            link.virtual[(delta, devfn)] = vf
            self._by_uid[vf.uid] = vf
            new.append(vf)
        pf.virtfns = new if new else None
        self._topology_changed()
        return new

    def sync_all_virtfns(self) -> None:
        """Create the VFs that every PF's SR-IOV registers enable (after building or import)."""
        for fn in list(self.functions(include_virtfns=False)):
            sr = fn.sriov
            if sr is not None and sr.vf_enable and sr.num_vfs:
                self.sync_virtfns(fn)

    @staticmethod
    def _vf_key(vf):
        return vf.vbus_delta, vf.devfn

    # -- copy / serialization ------------------------------------------------------------------
    def copy(self) -> "Fabric":
        """Deep copy for the next generation; config bytes are shared copy-on-write."""
        return Fabric.from_records(self.name, self.source, self.platform, *self._records())

    def _records(self):
        """Flatten to (roots, records); a record is
        (parent_index|-1, root_index, devfn, is_vf, vf_index, delta, cfg, uid, knobs)."""
        roots = [(r.domain, r.number) for r in self.roots]
        return roots, [(parent, rix, fn.devfn, isvf, vfi, delta, fn.cfg, fn.uid, fn._knobs)
                       for fn, parent, rix, isvf, vfi, delta in self._record_walk()]

    def _record_walk(self):
        """``(fn, parent_index|-1, root_index, is_vf, vf_index, delta)`` of every function in
        record order (depth first, VFs after their PF): a record's parent is its upstream
        bridge's record, a VF's its PF's (what _records() and to_bytes() write)."""
        root_ix = {id(r): i for i, r in enumerate(self.roots)}
        index: dict = {}                  # Function -> its record index (identity: no __eq__)
        for i, fn in enumerate(self.functions(include_virtfns=True)):
            pf = fn.physfn
            if pf is not None:
                yield fn, index[pf], root_ix[id(fn.root)], 1, fn.vf_index, fn.vbus_delta
            else:
                up = fn.upstream
                yield fn, -1 if up is None else index[up], root_ix[id(fn.root)], 0, 0, 0
            index[fn] = i

    @classmethod
    def from_records(cls, name, source, platform, roots, recs, copy_cfg=True, *, into=None,
                     premade=None, layout=None) -> "Fabric":
        """The fabric of :meth:`_records`' output. ``into``: an existing object to build
        (a lazily decoded fabric, :mod:`pcilu_cli.fabric.lazy`), ``premade``: record index →
        the Function already handed out for it (kept, and linked into the tree).
        ``layout``: ``(record table, uid ends + orders, uid text)`` the records were read
        from, kept for :meth:`to_bytes` (see ``_layout``)."""
        src, plat = json.loads(json.dumps(source)), json.loads(json.dumps(platform))
        if into is None:
            fab = cls(name, src, plat)
        else:
            fab = into
            Fabric.__init__(fab, name, src, plat)
        rbs = [fab.add_root(d, n) for d, n in roots]
        objs = []
        by_uid = fab._by_uid
        premade = premade or {}
        for i, (parent, rix, devfn, isvf, vfi, delta, cfg, uid, knobs) in enumerate(recs):
            fn = premade.get(i)
            if fn is None:
                fn = Function(uid, devfn, cfg.copy() if copy_cfg else cfg, knobs)
            fn.fabric = fab
            if isvf:
                pf = objs[parent]
                fn.physfn, fn.vf_index, fn.vbus_delta = pf, vfi, delta
                fn.upstream, fn.root = pf.upstream, pf.root
                link = pf.link
                if link.virtual is _EMPTY_MAP:
                    link.virtual = {}
                link.virtual[(delta, devfn)] = fn
                if pf.virtfns is None:
                    pf.virtfns = []
                pf.virtfns.append(fn)
            else:
                if parent < 0:
                    rb = rbs[rix]
                    rb.functions[devfn] = fn
                    fn.root = rb
                    if fn.is_bridge:
                        rb.bridges.append(fn)
                else:
                    up = objs[parent]
                    if up.downstream is _EMPTY_MAP:
                        up.downstream = {}
                    up.downstream[devfn] = fn
                    fn.upstream, fn.root = up, up.root
                    if fn.is_bridge:
                        if not up.bridges:
                            up.bridges = []
                        up.bridges.append(fn)
            by_uid[uid] = fn
            objs.append(fn)
        if layout is not None and roots == [(r.domain, r.number) for r in fab.roots]:
            # (a record's root index is into the roots as written; to_bytes writes them
            # sorted, once each: a note whose roots were not is encoded anew)
            fab._layout = (fab._topology, objs, *layout)
        return fab

    def _fingerprint(self):
        """What CONFIG_EPOCH does not see: knobs (a mutable dict per function), the name,
        source and platform. Cheap: one pass over the functions, most of which have none."""
        return (self.name, json.dumps([self.source, self.platform], sort_keys=True,
                                      default=repr), len(self._by_uid),
                [(u, sorted(f._knobs.items(), key=repr)) for u, f in self._by_uid.items()
                 if f._knobs])

    def forget_encoded(self) -> None:
        """Drop the bytes kept from decoding: the next to_bytes() encodes anew."""
        self._encoded = None

    def to_bytes(self) -> bytes:
        """Compact deterministic serialization: topology + every config space (zlib).

        A fabric decoded by :meth:`from_bytes` returns the very bytes it was decoded from as
        long as no config space, topology, knob or metadata changed since (CONFIG_EPOCH and
        :meth:`_fingerprint`): a state save after a kernel-only change reuses its fabric note
        instead of re-encoding 65,536 functions."""
        enc = self._encoded
        if enc is not None:
            if enc[0] == CONFIG_EPOCH[0] and enc[2] == self._fingerprint():
                return enc[1]
            self._encoded = None
        roots = [(r.domain, r.number) for r in self.roots]
        blobs: dict[bytes, int] = {}
        setblob = blobs.setdefault
        table = bytearray()
        pack = FABRIC_RECORD.pack
        size_codes = _SIZE_CODES
        knobs = {}
        lay = self._layout
        if lay is not None and lay[0] == self._topology and len(lay[1]) == len(self._by_uid):
            # the topology is the one last read or written: its functions in record order,
            # their records (all but the config-space fields) and the uid column are reused
            _topo, fns, old, runs, text = lay
            walk = ((fn, parent, rix, flags & 1, vfi, delta) for fn, (
                parent, rix, _devfn, flags, vfi, delta, _pad, _bi) in zip(
                    fns, FABRIC_RECORD.iter_unpack(old)))
            add_fn = None
        else:
            # the functions in record order, listed as they are met
            fns, runs, walk = [], None, self._record_walk()
            add_fn = fns.append
        # one pass, each function written as its record as it is met (no list of records)
        for i, (fn, parent, rix, isvf, vfi, delta) in enumerate(walk):
            cfg = fn.cfg
            d = cfg._data
            bi = setblob(d if type(d) is bytes else cfg.stored_bytes(), len(blobs))
            table += pack(parent, rix, fn.devfn, isvf | (size_codes[cfg.size] << 4), vfi, delta,
                          0, bi)
            kn = fn._knobs
            if kn:
                knobs[str(i)] = kn
            if add_fn is not None:
                add_fn(fn)
        if runs is None:
            from pcilu_cli.fabric import uid_column
            runs, text = uid_column.encode([fn.uid for fn in fns])
        table = bytes(table)
        self._layout = (self._topology, fns, table, runs, text)
        blob_list = list(blobs)
        meta = json.dumps({"name": self.name, "source": self.source, "platform": self.platform,
                           "roots": roots, "knobs": knobs,
                           "blob_lengths": [len(b) for b in blob_list]},
                          sort_keys=True, separators=(",", ":")).encode()
        body = FABRIC_BODY.pack(len(meta), len(table), len(fns), len(text)) + meta + table \
            + runs + text + b"".join(blob_list)
        return FABRIC_HEADER.pack(FABRIC_MAGIC, FABRIC_VERSION) + zlib.compress(body, LEVEL)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Fabric":
        if data[:len(FABRIC_MAGIC)] != FABRIC_MAGIC:
            raise BadInput("not a serialized pcilu fabric (bad magic)", offset=0)
        try:
            meta, table, blobs, uids = decode_parts(data)
            recs = records_of(meta, table, blobs, uids)
            fab = cls.from_records(meta["name"], meta["source"], meta["platform"],
                                   [tuple(r) for r in meta["roots"]], recs, copy_cfg=False,
                                   layout=layout_of(table, uids))
            fab._encoded = (CONFIG_EPOCH[0], bytes(data), fab._fingerprint())
            return fab
        except BadInput:
            raise
        except Exception as e:  # noqa: BLE001 - any corruption is bad input
            raise BadInput(f"corrupt serialized fabric: {type(e).__name__}: {e}") from None


def decode_parts(data: bytes, budget=None):
    """(meta, record table, config blobs, uids) of a serialized fabric (magic already
    checked); ``uids`` is a :mod:`~pcilu_cli.fabric.uid_column` view of either version's.
    ``budget``: the :class:`~pcilu_cli.abi.untrusted.InflateBudget` of the file the fabric
    came in (by default, of ``data`` alone). The table and the uid ends and orders are views
    of the inflated body, not copies (a crafted body that declares a million functions is
    refused without a second 24 MB)."""
    from pcilu_cli.fabric.uid_column import SLOT, UidColumn, UidList
    version = FABRIC_HEADER.unpack_from(data, 0)[1]
    if budget is None:
        from pcilu_cli.abi.untrusted import InflateBudget
        budget = InflateBudget(len(data))
    body, meta, (start, mlen, tlen, n, ulen) = _inflate_fabric(
        memoryview(data)[FABRIC_HEADER.size:], version, budget)
    view = memoryview(body)
    table = view[start + mlen:start + mlen + tlen]
    pos = start + mlen + tlen
    if version == 1:
        uids = UidList(meta.get("uids") if type(meta) is dict else None, n)
    else:
        runs = view[pos:pos + n * SLOT]
        pos += len(runs)
        text = body[pos:pos + ulen]            # (the body has every part it declares)
        pos += ulen
        uids = UidColumn(runs, text, n)
    blobs = []
    for ln in meta["blob_lengths"]:
        blobs.append(body[pos:pos + ln])
        pos += ln
    return meta, table, blobs, uids


def record_of(meta, i: int, row: tuple, blobs, uids) -> tuple:
    """The :meth:`Fabric.from_records` record of table row ``i``."""
    parent, rix, devfn, flags, vfi, delta, _pad, bi = row
    cfg = ConfigSpace.of_stored(_SIZES[flags >> 4], blobs[bi])
    return (parent, rix, devfn, flags & 1, vfi, delta, cfg, uids[i],
            meta["knobs"].get(str(i)))


def records_of(meta, table, blobs, uids) -> list:
    """:func:`record_of` of every row of the table, in one loop (a 65,536-function load or
    kexec pays this once): no ``str(i)`` knob lookup per row when no record has knobs."""
    uids, knobs = uids.tolist(), meta["knobs"]
    some = not (type(knobs) is dict and not knobs)
    of_stored, sizes = ConfigSpace.of_stored, _SIZES
    recs = []
    add = recs.append
    for i, (parent, rix, devfn, flags, vfi, delta, _pad, bi) in enumerate(
            FABRIC_RECORD.iter_unpack(table)):
        add((parent, rix, devfn, flags & 1, vfi, delta, of_stored(sizes[flags >> 4], blobs[bi]),
             uids[i], knobs.get(str(i)) if some else None))
    return recs


def layout_of(table, uids):
    """What :meth:`Fabric.from_records` keeps of a decoded note for the next save: the
    record table and the uid column (None for version 1, which has no column to reuse)."""
    raw = getattr(uids, "raw", None)
    return None if raw is None else (bytes(table), *raw())


# What one function may take in a serialized fabric: its record, one config space of at most
# 4 KiB (identical ones are stored once), and its share of the JSON meta (uid, knobs, length).
META_PER_FUNCTION = 1024
META_FIXED = 1 << 20               # name, source, platform


def _inflate_fabric(compressed, version: int, budget) -> tuple:
    """``(body, meta, (start, meta_len, table_len, n, uids_len))``: the body, its meta and its
    header's fields (``start``: where the meta begins; ``uids_len`` 0 in version 1).

    The header declares every part but the config space: ``n`` functions need ``n * record``
    bytes of table, a meta of at most ``1 MiB + n * 1 KiB`` and (version 2) ``n * 8`` bytes of
    uid ends and orders and at most ``n * 1 KiB`` of uid text; the meta then lists the length
    of every stored config space (at most ``n * 4 KiB`` in all). The header and the meta are
    read first (inflating only as far as they go), so the body is inflated to exactly the
    size they declare, no further, and not at all if that is more than ``budget`` has left."""
    from pcilu_cli.abi.untrusted import inflate, inflate_head
    if version not in FABRIC_VERSIONS:
        raise BadInput(f"serialized fabric version {version} (this pcilu reads versions "
                       f"{' and '.join(map(str, FABRIC_VERSIONS))})", offset=8, field="version")
    what = "serialized fabric"
    codec = FABRIC_BODY_V1 if version == 1 else FABRIC_BODY
    hsize = codec.size
    head = inflate_head(compressed, hsize, what=what)
    if len(head) < hsize:
        raise BadInput(f"serialized fabric body is {len(head)} bytes, too short for its header")
    mlen, tlen, n, *rest = codec.unpack(head)
    ulen = rest[0] if rest else 0
    if tlen != n * FABRIC_RECORD.size:
        raise BadInput(f"serialized fabric declares {n} functions but a {tlen}-byte record "
                       f"table ({n * FABRIC_RECORD.size} expected)", field="table")
    if mlen > META_FIXED + n * META_PER_FUNCTION:
        raise BadInput(f"serialized fabric declares a {mlen}-byte meta for {n} functions",
                       field="meta")
    if ulen > n * META_PER_FUNCTION:
        raise BadInput(f"serialized fabric declares {ulen} bytes of uids for {n} functions",
                       field="uids")
    from pcilu_cli.fabric.uid_column import SLOT
    fixed = hsize + mlen + tlen + (n * SLOT if version > 1 else 0) + ulen
    if fixed > budget.left:          # (refused before anything is inflated)
        raise BadInput(budget.refusal(what, True) + f": its header declares {fixed} bytes "
                       "before its config space")
    raw = inflate_head(compressed, hsize + mlen, what=what, budget=budget)[hsize:]
    if len(raw) < mlen:
        raise BadInput(f"serialized fabric body ends {mlen - len(raw)} bytes into its meta",
                       field="meta")
    meta = json.loads(raw)
    lengths = meta["blob_lengths"] if type(meta) is dict else None
    if type(lengths) is not list or not all(type(x) is int and x >= 0 for x in lengths):
        raise BadInput("serialized fabric meta has no list of config space lengths",
                       field="blob_lengths")
    config = sum(lengths)
    if config > n * 4096:
        raise BadInput(f"serialized fabric declares {config} bytes of config space for {n} "
                       "functions", field="blob_lengths")
    body = inflate(compressed, fixed + config, what=what, base=FABRIC_HEADER.size,
                   budget=budget)
    if len(body) != fixed + config:
        raise BadInput(f"serialized fabric body is {len(body)} bytes, but its header and meta "
                       f"declare {fixed + config}")
    return body, meta, (hsize, mlen, tlen, n, ulen)


def _uid_bdf(uid: str):
    try:
        d, b, _ = parse_bdf(uid)
        return d, b
    except Exception:  # noqa: BLE001 - a uid need not be a BDF
        return None
