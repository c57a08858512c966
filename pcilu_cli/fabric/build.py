# SPDX-License-Identifier: GPL-2.0-only
"""Building fabrics: config-space synthesis from a few facts, and firmware-style bus numbering.

What it models: the state firmware leaves a machine in before Linux boots — every function's
header and capabilities, and bus numbers either as given or handed out depth-first in device
order (the way pci_scan_bridge_extend() pass 1 does it, §2.1 of pci-fabric.md).

API:
    FunctionSpec(uid, parent=None, vendor=..., device=..., kind="endpoint", ...)  a dataclass;
        kind: endpoint | legacy_endpoint | rciep | rcec | root_port | upstream | downstream |
              pcie_pci_bridge | pci_pcie_bridge | pci_bridge | pci_endpoint | cardbus
        bus=(primary, secondary, subordinate) or None (firmware assigns);
        acs=(cap, ctrl) | None; ari_forwarding=(supported, enabled) | None;
        ari_next_function=int | None (ARI capability present); sriov=dict | None (keys
        total_vfs, num_vfs, vf_enable, first_vf_offset, vf_stride, vf_device,
        ari_capable_hierarchy); command/bus_master; power_state; knobs; raw=bytes|None
    make_config(spec) -> ConfigSpace
    kind_of(fn: Function) -> str                the kind a built function's registers describe
    vf_config_for(pf: Function) -> ConfigSpace
    FabricBuilder(name, source=None, platform=None)
        .root(domain, number)                   declare a root bus (else derived from uids)
        .add(spec) -> spec / .add_function(uid, parent=None, **fields) -> spec
        .build(assign=None) -> Fabric           assign=None: number only unconfigured bridges
                                                (firmware kept the rest); True: renumber all
    firmware_assign_buses(fabric, assign_all=False) -> None
    check_topology(fabric) -> list[(uid, field, message)]   overlapping/escaping bus ranges
    small_fabric(kind="virtio") -> Fabric       tiny ready-made fabrics for tests
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pcilu_cli.abi.bdf import parse_bdf
from pcilu_cli.fabric.config import ConfigSpace
from pcilu_cli.fabric.layouts import (
    AcsCap, AriCap, PcieCap, PmCap, SriovCap, Type0Header, Type1Header, ext_cap_header,
)
from pcilu_cli.fabric.model import PCIE_TYPE_VALUES, POWER_STATES, Fabric, Function

# kind -> (header type, PCIe port type name or None, default class code)
KINDS = {
    "endpoint": (0, "endpoint", 0x020000),
    "legacy_endpoint": (0, "legacy_endpoint", 0x020000),
    "rciep": (0, "rciep", 0x088000),
    "rcec": (0, "rcec", 0x080700),
    "root_port": (1, "root_port", 0x060400),
    "upstream": (1, "upstream", 0x060400),
    "downstream": (1, "downstream", 0x060400),
    "pcie_pci_bridge": (1, "pcie_pci_bridge", 0x060400),
    "pci_pcie_bridge": (1, "pci_pcie_bridge", 0x060400),
    "pci_bridge": (1, None, 0x060400),
    "pci_endpoint": (0, None, 0x020000),
    "host_bridge": (0, None, 0x060000),
    "cardbus": (2, None, 0x060700),
}
KIND_ALIASES = {"usp": "upstream", "dsp": "downstream", "ep": "endpoint"}

PCIE_CAP_OFF = 0x40
PM_CAP_OFF_PCIE = 0x80
EXT_START = 0x100


@dataclass
class FunctionSpec:
    """Facts about one function as firmware left it (see module docstring)."""
    uid: str
    parent: str | None = None
    vendor: int = 0x1234
    device: int = 0x0001
    kind: str = "endpoint"
    class_code: int | None = None
    revision: int = 0
    multifunction: bool = False
    command: int | None = None
    bus_master: bool | None = None
    bus: tuple[int, int, int] | None = None
    pcie_version: int = 2
    slot: bool = False
    ari_forwarding: tuple[bool, bool] | None = None
    acs: tuple[int, int] | None = None
    ari_next_function: int | None = None
    sriov: dict | None = None
    power_state: str | None = None
    knobs: dict = field(default_factory=dict)
    raw: bytes | None = None
    line: int | None = None        # where a loader found it (for messages)


def kind_of(fn: Function) -> str:
    """The KINDS name that describes a built function, read back from its registers."""
    if fn.cfg.size < 256:  # 64-byte snapshot: no capability list, the PCIe role is unknown
        return {1: "bridge", 2: "cardbus"}.get(fn.header_type, "function")
    t = fn.pcie_type
    if t is not None and t in KINDS:
        if fn.header_type == 1 and KINDS[t][0] != 1 or fn.header_type == 0 and KINDS[t][0] != 0:
            return {0: "pci_endpoint", 1: "pci_bridge", 2: "cardbus"}.get(fn.header_type,
                                                                         "other")
        return t
    if fn.header_type == 1:
        return "pci_bridge"
    if fn.header_type == 2:
        return "cardbus"
    if fn.class_code >> 8 == 0x0600:
        return "host_bridge"
    return "pci_endpoint"


def _kind(spec: FunctionSpec) -> str:
    k = KIND_ALIASES.get(spec.kind, spec.kind)
    if k not in KINDS:
        raise ValueError(f"unknown kind {spec.kind!r}")
    return k


def make_config(spec: FunctionSpec) -> ConfigSpace:
    """Synthesize a config space (header, PM, PCIe, ACS, ARI, SR-IOV) from ``spec``."""
    if spec.raw is not None:
        return ConfigSpace.from_bytes(spec.raw)
    kind = _kind(spec)
    htype, ptype, dclass = KINDS[kind]
    cls = dclass if spec.class_code is None else spec.class_code
    command = spec.command if spec.command is not None else 0
    if spec.bus_master is not None:
        command = (command | 0x4) if spec.bus_master else (command & ~0x4)
    pcie = ptype is not None
    size = 4096 if pcie else 256
    buf = bytearray(64)
    common = dict(vendor=spec.vendor, device=spec.device, command=command, status=0x0010,
                  revision=spec.revision, class_prog=cls & 0xFF, class_device=cls >> 8,
                  cache_line_size=0, latency_timer=0,
                  header_type=htype | (0x80 if spec.multifunction else 0), bist=0,
                  interrupt_line=0, interrupt_pin=0)
    if htype == 0:
        buf[:] = Type0Header.build(dict(common, bar=[0] * 6, cardbus_cis=0, subsystem_vendor=0,
                                        subsystem_id=0, rom_address=0,
                                        capability_list=0x40, min_gnt=0, max_lat=0))
    else:
        p, s, sub = spec.bus or (0, 0, 0)
        buf[:] = Type1Header.build(dict(
            common, bar=[0] * 2, primary_bus=p, secondary_bus=s, subordinate_bus=sub,
            sec_latency_timer=0, io_base=0, io_limit=0, sec_status=0, memory_base=0,
            memory_limit=0, pref_memory_base=0, pref_memory_limit=0, pref_base_upper32=0,
            pref_limit_upper32=0, io_base_upper16=0, io_limit_upper16=0,
            capability_list=0x40, rom_address1=0, bridge_control=0))
        if htype == 2:
            buf[0x14] = 0x40  # CardBus keeps its capability pointer at 0x14
            buf[0x34] = 0
    cfg = ConfigSpace(size, bytes(buf))
    pm_state = POWER_STATES.index(spec.power_state) if spec.power_state in POWER_STATES[:4] else 0
    pm_off = PM_CAP_OFF_PCIE if pcie else 0x40
    if pcie:
        devcap2 = devctl2 = 0
        if spec.ari_forwarding is not None:
            devcap2 = 0x20 if spec.ari_forwarding[0] else 0
            devctl2 = 0x20 if spec.ari_forwarding[1] else 0
        flags = (spec.pcie_version & 0xF) | (PCIE_TYPE_VALUES[ptype] << 4) \
            | (0x100 if spec.slot else 0)
        cfg.write_block(PCIE_CAP_OFF, _pcie_cap_bytes(flags, pm_off, devcap2, devctl2))
    cfg.write_block(pm_off, PmCap.build(dict(id=0x01, next=0, pmc=0x0003, ctrl=pm_state,
                                              bridge_ext=0, data=0)))
    if pcie:
        ext = []
        if spec.acs is not None:
            ext.append((0x000D, _acs_bytes(spec.acs)))
        if spec.ari_next_function is not None:
            ext.append((0x000E, AriCap.build(dict(header=0, cap=(spec.ari_next_function & 0xFF)
                                                  << 8, ctrl=0))))
        if spec.sriov is not None:
            ext.append((0x0010, _sriov_bytes(spec.sriov)))
        off = EXT_START
        for i, (cid, body) in enumerate(ext):
            nxt = off + ((len(body) + 3) & ~3) if i + 1 < len(ext) else 0
            body = bytearray(body)
            body[0:4] = ext_cap_header(cid, 1, nxt).to_bytes(4, "little")
            cfg.write_block(off, bytes(body))
            off = nxt
    if spec.power_state and spec.power_state not in POWER_STATES:
        raise ValueError(f"unknown power state {spec.power_state!r}")
    return cfg


def _pcie_cap_bytes(flags: int, next_off: int = 0, devcap2: int = 0, devctl2: int = 0) -> bytes:
    """A PCI Express capability whose other registers read zero."""
    return PcieCap.build(dict(
        id=0x10, next=next_off, flags=flags, devcap=0, devctl=0, devsta=0, lnkcap=0, lnkctl=0,
        lnksta=0, sltcap=0, sltctl=0, sltsta=0, rtctl=0, rtcap=0, rtsta=0, devcap2=devcap2,
        devctl2=devctl2, devsta2=0, lnkcap2=0, lnkctl2=0, lnksta2=0, sltcap2=0, sltctl2=0,
        sltsta2=0))


def _acs_bytes(acs) -> bytes:
    cap, ctrl = acs
    body = AcsCap.build(dict(header=0, cap=cap, ctrl=ctrl))
    if cap & 0x20:  # Egress Control: vector of (cap >> 8) bits, 0 meaning 256
        bits = (cap >> 8) or 256
        body += bytes(((bits + 31) // 32) * 4)
    return body


def _sriov_bytes(s: dict) -> bytes:
    ctrl = (0x1 if s.get("vf_enable") else 0) | (0x8 if s.get("vf_enable") else 0) \
        | (0x10 if s.get("ari_capable_hierarchy") else 0)
    total = s.get("total_vfs", 0)
    return SriovCap.build(dict(
        header=0, cap=0, ctrl=ctrl, status=0, initial_vfs=s.get("initial_vfs", total),
        total_vfs=total, num_vfs=s.get("num_vfs", 0), func_link=0,
        vf_offset=s.get("first_vf_offset", 1), vf_stride=s.get("vf_stride", 1),
        vf_device=s.get("vf_device", 0), supported_page_sizes=0x553, system_page_size=1,
        vf_bar=[0] * 6, migration_state=0))


def vf_config_for(pf: Function) -> ConfigSpace:
    """A VF's own registers: Vendor/Device read 0xffff (SR-IOV spec), class and revision as the
    PF's, a v2 PCIe Endpoint capability, and an ARI capability if the PF has one."""
    buf = bytearray(64)
    buf[0:4] = b"\xff\xff\xff\xff"
    buf[0x06] = 0x10
    buf[0x08:0x0c] = pf.cfg.read(0x08, 4).to_bytes(4, "little")
    buf[0x34] = PCIE_CAP_OFF
    cfg = ConfigSpace(4096, bytes(buf))
    cfg.write_block(PCIE_CAP_OFF, _pcie_cap_bytes(0x0002))   # v2, Endpoint
    if pf.ari_cap is not None:
        cfg.write_block(EXT_START, AriCap.build(dict(header=ext_cap_header(0x000E, 1, 0),
                                                     cap=0, ctrl=0)))
    return cfg


# ---------------------------------------------------------------------------------------------
# firmware-style bus numbering


def firmware_assign_buses(fabric: Fabric, assign_all: bool = False,
                          keep: frozenset = frozenset()) -> None:
    """Leave the bus registers the way firmware (or a pci=assign-busses boot) would.

    Mirrors pci_scan_child_bus_extend() + pci_scan_bridge_extend(): per bus, reserve VF buses
    (pci_iov_bus_range), pass 0 keeps every sane configured bridge (recursing into it) and
    zeroes broken ones, pass 1 numbers the rest depth-first in device order.  No extra
    hotplug reservation (pci=hpbussize default assumed to add nothing: UNCONFIRMED).
    Bridges whose uid is in ``keep`` hold registers given explicitly (a raw config blob or
    ``broken: true``): they are never rewritten, only recursed into when sane.
    """
    for root in fabric.roots:
        nums = [r.number for r in fabric.roots if r.domain == root.domain]
        later = [n for n in nums if n > root.number]
        end = (min(later) - 1) if later else 0xFF
        _scan_bus(root, root.number, end, assign_all, keep)
    fabric.invalidate_routes()


def _iov_bus_range(link) -> int:
    """Highest bus offset any PF on this link needs for its TotalVFs (pci_iov_bus_range)."""
    top = 0
    for fn in link.downstream.values():
        sr = fn.sriov
        if sr is not None and sr.total_vfs:
            rel = fn.devfn + sr.first_vf_offset + sr.vf_stride * (sr.total_vfs - 1)
            top = max(top, rel >> 8)
    return top


def _scan_bus(link, bus: int, end: int, assign_all: bool, keep=frozenset()) -> int:
    mx = min(bus + _iov_bus_range(link), 0xFF)
    needs = []
    for br in link.bridges:                      # pass 0
        p, s, sub = br.bus_numbers()
        if p == 0 and p != bus and s and sub:
            p = bus                              # "Primary bus is hard wired to 0"
        broken = p != bus or s <= bus or s > sub
        if br.uid in keep:
            if not broken:
                _scan_bus(br, s, sub, assign_all, keep)
                mx = max(mx, sub)
            continue
        if (s or sub) and not assign_all and not br.is_cardbus and not broken:
            child_max = _scan_bus(br, s, sub, assign_all, keep)
            mx = max(mx, sub, min(child_max, sub))
        else:
            if assign_all or broken or br.is_cardbus:
                br.set_bus_numbers(0, 0, 0)
            needs.append(br)
    for br in needs:                             # pass 1
        nxt = mx + 1
        if nxt > end:
            continue                             # "devices behind bridge are unusable"
        br.set_bus_numbers(bus, nxt, end)
        mx = _scan_bus(br, nxt, end, assign_all, keep)
        br.subordinate = mx
    return mx


def check_topology(fabric: Fabric) -> list[tuple[str, str, str]]:
    """Problems a loader reports: sibling bus ranges that overlap, child ranges escaping the
    parent's, secondary <= primary.  Returns [(uid, field, message)]."""
    problems = []
    for link_owner in list(fabric.roots) + [f for f in fabric.functions(False) if f.bridges]:
        if hasattr(link_owner, "number"):
            lo, hi = link_owner.number, 0xFF
        else:
            _, lo, hi = link_owner.bus_numbers()
        spans = []
        for br in link_owner.bridges:
            p, s, sub = br.bus_numbers()
            if s == 0 and sub == 0:
                continue  # unconfigured: no subordinate bus yet
            if s > sub:
                problems.append((br.uid, "bus.secondary",
                                 f"secondary bus {s:02x} > subordinate {sub:02x}"))
                continue
            if s <= lo or sub > hi:
                problems.append((br.uid, "bus", f"bus range [{s:02x}-{sub:02x}] is outside "
                                 f"the parent's [{lo:02x}-{hi:02x}]"))
            for other, (s2, e2) in spans:
                if s <= e2 and s2 <= sub:
                    problems.append((br.uid, "bus", f"bus range [{s:02x}-{sub:02x}] overlaps "
                                     f"{other}'s [{s2:02x}-{e2:02x}]"))
            spans.append((br.uid, (s, sub)))
    return problems


# ---------------------------------------------------------------------------------------------
# builder


class FabricBuilder:
    """Collect FunctionSpecs keyed by uid (a BDF) with a ``parent`` uid, then build a Fabric.

    Functions whose parent is None sit on the root bus named by their own BDF (domain, bus).
    Children are attached to their parent's secondary link at the devfn of their BDF; the bus
    part of a child's BDF is only a name (the real bus is the parent's secondary register).
    """

    def __init__(self, name: str = "fabric", source: dict | None = None,
                 platform: dict | None = None):
        self.name, self.source, self.platform = name, source or {"kind": "hand-written"}, \
            platform or {}
        self.specs: dict[str, FunctionSpec] = {}
        self.roots: list[tuple[int, int]] = []

    def root(self, domain: int, number: int) -> "FabricBuilder":
        if (domain, number) not in self.roots:
            self.roots.append((domain, number))
        return self

    def add(self, spec: FunctionSpec) -> FunctionSpec:
        if spec.uid in self.specs:
            raise ValueError(f"duplicate function {spec.uid}")
        self.specs[spec.uid] = spec
        return spec

    def add_function(self, uid: str, parent: str | None = None, **fields) -> FunctionSpec:
        return self.add(FunctionSpec(uid=uid, parent=parent, **fields))

    def build(self, assign: bool | None = None) -> Fabric:
        """Create the Fabric. ``assign``: None = keep given bus numbers and number the rest
        (firmware style); True = renumber everything; False = leave registers as given."""
        fab = Fabric(self.name, self.source, self.platform)
        for d, n in self.roots:
            fab.add_root(d, n)
        made: dict[str, Function] = {}
        order = self._order()
        for spec in order:
            dom, bus, devfn = parse_bdf(spec.uid)
            knobs = {k: v for k, v in spec.knobs.items() if not k.startswith("_")}
            fn = Function(spec.uid, devfn, make_config(spec), knobs or None)
            if spec.power_state == "D3cold":
                fn.knobs["power_state"] = "D3cold"
            elif spec.power_state and spec.raw is not None:
                fn.power_state = spec.power_state
            if spec.parent is None:
                fab.attach(fn, fab.add_root(dom, bus))
            else:
                fab.attach(fn, made[spec.parent])
            made[spec.uid] = fn
        if assign is not False:
            keep = frozenset(u for u, sp in self.specs.items()
                             if sp.raw is not None or sp.knobs.get("_keep_bus"))
            firmware_assign_buses(fab, assign_all=bool(assign), keep=keep)
        fab.sync_all_virtfns()
        return fab

    def _order(self) -> list[FunctionSpec]:
        """Parents before children, siblings by devfn (cycles and dangling parents raise)."""
        out, state = [], {}

        def visit(uid):
            st = state.get(uid)
            if st == 2:
                return
            if st == 1:
                raise ValueError(f"parent cycle through {uid}")
            state[uid] = 1
            spec = self.specs[uid]
            if spec.parent is not None:
                if spec.parent not in self.specs:
                    raise ValueError(f"{uid}: parent {spec.parent} is not in the fabric")
                visit(spec.parent)
            state[uid] = 2
            out.append(spec)

        for uid in sorted(self.specs, key=lambda u: parse_bdf(u)):
            visit(uid)
        return out


def small_fabric(kind: str = "virtio") -> Fabric:
    """Tiny fabrics for tests and examples.

    "virtio": root port 0000:00:01.0 (ACS SV|RR|CR|UF cap, ARI fwd supported) → virtio-net
              1af4:1041 at 0000:01:00.0 with BME on.
    "switch": root port → switch USP → two DSPs → one endpoint each; buses assigned by
              firmware style numbering.
    "sriov":  root port (ARI fwd enabled) → PF 8086:10c9 with 4 VFs (offset 0x80, stride 2).
    """
    b = FabricBuilder(f"small-{kind}")
    rp_acs = (0x001F, 0x001D)
    b.add_function("0000:00:00.0", vendor=0x8086, device=0x29c0, kind="host_bridge")
    if kind == "virtio":
        b.add_function("0000:00:01.0", vendor=0x1b36, device=0x000c, kind="root_port",
                       acs=rp_acs, ari_forwarding=(True, False), bus_master=True, slot=True)
        b.add_function("0000:01:00.0", "0000:00:01.0", vendor=0x1af4, device=0x1041,
                       bus_master=True, class_code=0x020000)
    elif kind == "switch":
        b.add_function("0000:00:01.0", vendor=0x8086, device=0x7075, kind="root_port",
                       acs=rp_acs, ari_forwarding=(True, False), bus_master=True)
        b.add_function("0000:01:00.0", "0000:00:01.0", vendor=0x10b5, device=0x8747,
                       kind="upstream", bus_master=True)
        for i in range(2):
            dsp = f"0000:02:{i:02x}.0"
            b.add_function(dsp, "0000:01:00.0", vendor=0x10b5, device=0x8747,
                           kind="downstream", acs=(0x007F, 0x001D),
                           ari_forwarding=(True, False), bus_master=True)
            b.add_function(f"0000:{3 + i:02x}:00.0", dsp, vendor=0x144d, device=0xa808,
                           class_code=0x010802, bus_master=True)
    elif kind == "sriov":
        b.add_function("0000:00:01.0", vendor=0x8086, device=0x7075, kind="root_port",
                       acs=rp_acs, ari_forwarding=(True, True), bus_master=True)
        b.add_function("0000:01:00.0", "0000:00:01.0", vendor=0x8086, device=0x10c9,
                       bus_master=True, ari_next_function=0,
                       sriov=dict(total_vfs=8, num_vfs=4, vf_enable=True,
                                  first_vf_offset=0x80, vf_stride=2, vf_device=0x10ca))
    else:
        raise ValueError(f"unknown small fabric {kind!r}")
    return b.build()
