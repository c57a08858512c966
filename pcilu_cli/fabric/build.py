# SPDX-License-Identifier: GPL-2.0-only
"""Building fabrics: functions from their specs, attached into a tree, and firmware-style bus
numbering.

What it models: the state firmware leaves a machine in before Linux boots — every function's
registers (synthesized by ``function_spec.py``, below the model), attached where its parent
says, and bus numbers either as given or handed out depth-first in device order (the way
pci_scan_bridge_extend() pass 1 does it, §2.1 of pci-fabric.md).

API:
    FunctionSpec / make_config / kind_of        see function_spec.py (below the model)
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

from pcilu_cli.abi.bdf import parse_bdf
from pcilu_cli.fabric.function_spec import FunctionSpec, make_config
from pcilu_cli.fabric.model import Fabric, Function

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
