# SPDX-License-Identifier: GPL-2.0-only
"""Config-space synthesis: the registers a function has, from a few facts about it.

What it models: the header and capabilities (PM, PCIe, ACS, ARI, SR-IOV) that a function of a
given kind presents before anybody programs it, and a VF's own registers. It sits below the
fabric model (``model.py`` builds VFs with :func:`vf_config_for`) and knows nothing of
topology; firmware bus numbering and fabric assembly live above the model in ``build.py``.

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
    kind_of(fn) -> str                    the kind a function's registers describe
    vf_config_for(pf) -> ConfigSpace
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pcilu_cli.abi.pci_regs import (
    PCI_ACS_EC, PCI_ARI_CAP_NFN_SHIFT, PCI_CAP_ID_EXP, PCI_CAP_ID_PM, PCI_CAPABILITY_LIST,
    PCI_CB_CAPABILITY_LIST,
    PCI_CFG_SPACE_EXP_SIZE, PCI_CFG_SPACE_SIZE, PCI_CLASS_BRIDGE_HOST, PCI_COMMAND_MASTER,
    PCI_EXP_DEVCAP2_ARI, PCI_EXP_DEVCTL2_ARI, PCI_EXT_CAP_ID_ACS, PCI_EXT_CAP_ID_ARI,
    PCI_EXT_CAP_ID_SRIOV, PCI_HEADER_TYPE_BRIDGE, PCI_HEADER_TYPE_CARDBUS, PCI_HEADER_TYPE_MFD,
    PCI_HEADER_TYPE_NORMAL, PCI_REVISION_ID, PCI_SRIOV_CTRL_ARI, PCI_SRIOV_CTRL_MSE,
    PCI_SRIOV_CTRL_VFE, PCI_STATUS, PCI_STATUS_CAP_LIST, PCI_STD_HEADER_SIZEOF,
    PORT_TYPE_BY_NAME, POWER_STATES, PciExpType, pcie_flags,
)
from pcilu_cli.fabric.config import ConfigSpace

def _cfg():
    """The config-space Construct layouts, imported when something is synthesized (loading a
    serialized fabric or a state file never needs Construct)."""
    from pcilu_cli.abi import pci_config
    return pci_config


# kind -> (header type, PCIe port type name or None, default class code)
_N, _B, _CB = PCI_HEADER_TYPE_NORMAL, PCI_HEADER_TYPE_BRIDGE, PCI_HEADER_TYPE_CARDBUS
KINDS = {
    "endpoint": (_N, "endpoint", 0x020000),
    "legacy_endpoint": (_N, "legacy_endpoint", 0x020000),
    "rciep": (_N, "rciep", 0x088000),
    "rcec": (_N, "rcec", 0x080700),
    "root_port": (_B, "root_port", 0x060400),
    "upstream": (_B, "upstream", 0x060400),
    "downstream": (_B, "downstream", 0x060400),
    "pcie_pci_bridge": (_B, "pcie_pci_bridge", 0x060400),
    "pci_pcie_bridge": (_B, "pci_pcie_bridge", 0x060400),
    "pci_bridge": (_B, None, 0x060400),
    "pci_endpoint": (_N, None, 0x020000),
    "host_bridge": (_N, None, 0x060000),
    "cardbus": (_CB, None, 0x060700),
}
assert all(KINDS[w][1] == w for w in PORT_TYPE_BY_NAME)    # every port type is a kind
KIND_ALIASES = {"usp": "upstream", "dsp": "downstream", "ep": "endpoint"}

PCIE_CAP_OFF = PCI_STD_HEADER_SIZEOF       # where synthesized capabilities sit
PM_CAP_OFF_PCIE = 0x80
EXT_START = PCI_CFG_SPACE_SIZE


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


def kind_of(fn) -> str:
    """The KINDS name that describes a built function (a fabric ``Function``), read back
    from its registers."""
    if fn.cfg.size < PCI_CFG_SPACE_SIZE:  # 64-byte snapshot: no capability list, PCIe role unknown
        return {_B: "bridge", _CB: "cardbus"}.get(fn.header_type, "function")
    t = fn.pcie_type
    if t is not None and t in KINDS:
        if fn.header_type == _B and KINDS[t][0] != _B or fn.header_type == _N and KINDS[t][0] != _N:
            return {_N: "pci_endpoint", _B: "pci_bridge", _CB: "cardbus"}.get(fn.header_type,
                                                                             "other")
        return t
    if fn.header_type == _B:
        return "pci_bridge"
    if fn.header_type == _CB:
        return "cardbus"
    if fn.class_code >> 8 == PCI_CLASS_BRIDGE_HOST:
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
        command = (command | PCI_COMMAND_MASTER) if spec.bus_master \
            else (command & ~PCI_COMMAND_MASTER)
    pcie = ptype is not None
    size = PCI_CFG_SPACE_EXP_SIZE if pcie else PCI_CFG_SPACE_SIZE
    buf = bytearray(PCI_STD_HEADER_SIZEOF)
    common = dict(vendor=spec.vendor, device=spec.device, command=command,
                  status=PCI_STATUS_CAP_LIST,
                  revision=spec.revision, class_prog=cls & 0xFF, class_device=cls >> 8,
                  cache_line_size=0, latency_timer=0,
                  header_type=htype | (PCI_HEADER_TYPE_MFD if spec.multifunction else 0), bist=0,
                  interrupt_line=0, interrupt_pin=0)
    layouts = _cfg()
    if htype == _N:
        buf[:] = layouts.Type0Header.build(dict(
            common, bar=[0] * 6, cardbus_cis=0, subsystem_vendor=0, subsystem_id=0,
            rom_address=0, capability_list=PCIE_CAP_OFF, min_gnt=0, max_lat=0))
    else:
        p, s, sub = spec.bus or (0, 0, 0)
        buf[:] = layouts.Type1Header.build(dict(
            common, bar=[0] * 2, primary_bus=p, secondary_bus=s, subordinate_bus=sub,
            sec_latency_timer=0, io_base=0, io_limit=0, sec_status=0, memory_base=0,
            memory_limit=0, pref_memory_base=0, pref_memory_limit=0, pref_base_upper32=0,
            pref_limit_upper32=0, io_base_upper16=0, io_limit_upper16=0,
            capability_list=PCIE_CAP_OFF, rom_address1=0, bridge_control=0))
        if htype == _CB:   # CardBus keeps its capability pointer at 0x14
            buf[PCI_CB_CAPABILITY_LIST] = PCIE_CAP_OFF
            buf[PCI_CAPABILITY_LIST] = 0
    cfg = ConfigSpace(size, bytes(buf))
    pm_state = POWER_STATES.index(spec.power_state) if spec.power_state in POWER_STATES[:4] else 0
    pm_off = PM_CAP_OFF_PCIE if pcie else PCIE_CAP_OFF
    if pcie:
        devcap2 = devctl2 = 0
        if spec.ari_forwarding is not None:
            devcap2 = PCI_EXP_DEVCAP2_ARI if spec.ari_forwarding[0] else 0
            devctl2 = PCI_EXP_DEVCTL2_ARI if spec.ari_forwarding[1] else 0
        flags = pcie_flags(spec.pcie_version, PORT_TYPE_BY_NAME[ptype], spec.slot)
        cfg.write_block(PCIE_CAP_OFF, _pcie_cap_bytes(flags, pm_off, devcap2, devctl2))
    cfg.write_block(pm_off, layouts.PmCap.build(dict(id=PCI_CAP_ID_PM, next=0, pmc=0x0003,
                                                    ctrl=pm_state, bridge_ext=0, data=0)))
    if pcie:
        ext = []
        if spec.acs is not None:
            ext.append((PCI_EXT_CAP_ID_ACS, _acs_bytes(spec.acs)))
        if spec.ari_next_function is not None:
            nfn = (spec.ari_next_function & 0xFF) << PCI_ARI_CAP_NFN_SHIFT
            ext.append((PCI_EXT_CAP_ID_ARI, layouts.AriCap.build(dict(header=0, cap=nfn, ctrl=0))))
        if spec.sriov is not None:
            ext.append((PCI_EXT_CAP_ID_SRIOV, _sriov_bytes(spec.sriov)))
        off = EXT_START
        for i, (cid, body) in enumerate(ext):
            nxt = off + ((len(body) + 3) & ~3) if i + 1 < len(ext) else 0
            body = bytearray(body)
            body[0:4] = layouts.ext_cap_header(cid, 1, nxt).to_bytes(4, "little")
            cfg.write_block(off, bytes(body))
            off = nxt
    if spec.power_state and spec.power_state not in POWER_STATES:
        raise ValueError(f"unknown power state {spec.power_state!r}")
    return cfg


def _pcie_cap_bytes(flags: int, next_off: int = 0, devcap2: int = 0, devctl2: int = 0) -> bytes:
    """A PCI Express capability whose other registers read zero."""
    return _cfg().PcieCap.build(dict(
        id=PCI_CAP_ID_EXP, next=next_off, flags=flags, devcap=0, devctl=0, devsta=0, lnkcap=0,
        lnkctl=0, lnksta=0, sltcap=0, sltctl=0, sltsta=0, rtctl=0, rtcap=0, rtsta=0,
        devcap2=devcap2, devctl2=devctl2, devsta2=0, lnkcap2=0, lnkctl2=0, lnksta2=0,
        sltcap2=0, sltctl2=0, sltsta2=0))


def _acs_bytes(acs) -> bytes:
    cap, ctrl = acs
    body = _cfg().AcsCap.build(dict(header=0, cap=cap, ctrl=ctrl))
    if cap & PCI_ACS_EC:  # Egress Control: vector of (cap >> 8) bits, 0 meaning 256
        bits = (cap >> 8) or 256
        body += bytes(((bits + 31) // 32) * 4)
    return body


def _sriov_bytes(s: dict) -> bytes:
    ctrl = ((PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE) if s.get("vf_enable") else 0) \
        | (PCI_SRIOV_CTRL_ARI if s.get("ari_capable_hierarchy") else 0)
    total = s.get("total_vfs", 0)
    return _cfg().SriovCap.build(dict(
        header=0, cap=0, ctrl=ctrl, status=0, initial_vfs=s.get("initial_vfs", total),
        total_vfs=total, num_vfs=s.get("num_vfs", 0), func_link=0,
        vf_offset=s.get("first_vf_offset", 1), vf_stride=s.get("vf_stride", 1),
        vf_device=s.get("vf_device", 0), supported_page_sizes=0x553, system_page_size=1,
        vf_bar=[0] * 6, migration_state=0))


def vf_config_for(pf) -> ConfigSpace:
    """A VF's own registers: Vendor/Device read 0xffff (SR-IOV spec), class and revision as the
    PF's, a v2 PCIe Endpoint capability, and an ARI capability if the PF has one."""
    buf = bytearray(PCI_STD_HEADER_SIZEOF)
    buf[0:4] = b"\xff\xff\xff\xff"                  # Vendor ID, Device ID
    buf[PCI_STATUS] = PCI_STATUS_CAP_LIST
    buf[PCI_REVISION_ID:PCI_REVISION_ID + 4] = pf.cfg.read(PCI_REVISION_ID, 4).to_bytes(4, "little")
    buf[PCI_CAPABILITY_LIST] = PCIE_CAP_OFF
    cfg = ConfigSpace(PCI_CFG_SPACE_EXP_SIZE, bytes(buf))
    cfg.write_block(PCIE_CAP_OFF, _pcie_cap_bytes(pcie_flags(2, PciExpType.ENDPOINT)))
    if pf.ari_cap is not None:
        hdr = _cfg().ext_cap_header(PCI_EXT_CAP_ID_ARI, 1, 0)
        cfg.write_block(EXT_START, _cfg().AriCap.build(dict(header=hdr, cap=0, ctrl=0)))
    return cfg
