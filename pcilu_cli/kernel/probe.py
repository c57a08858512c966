# SPDX-License-Identifier: GPL-2.0-only
"""``drivers/pci/probe.c`` (+ the bits of ``pci.c``/``iov.c`` enumeration runs): discovery by
config cycles through the fabric's routing, the two-pass bridge scan with the v6 bus-number
hooks, pci_configure_ari(), pci_acs_init(), and VF creation.

Discovery only asks the fabric "who answers a config cycle at (domain, bus, devfn)"
(``fabric.route``, the vendor-ID read); a bridge whose registers were lost really hides its
children. Bus numbers the kernel assigns are written to the bridge's registers.

Not modelled (documented simplifications): hotplug-bridge bus reservations
(``pci=hpbussize``, ``available_buses`` only matters for hotplug bridges), Enhanced Allocation
fixed bus numbers, Master-Abort / status clearing writes (no observable effect here), CardBus
child scanning (v6 requires ``!CARDBUS``; a CardBus bridge gets numbers but nothing is scanned).
"""
from __future__ import annotations

from pcilu_cli.abi.bdf import device_key
from pcilu_cli.abi.pci_regs import (
    DOWNSTREAM_PORTS, PCI_EXP_DEVCAP2, PCI_EXP_DEVCAP2_ARI, PCI_EXP_DEVCTL2,
    PCI_EXP_DEVCTL2_ARI, PCI_EXP_FLAGS, PCI_EXP_FLAGS_TYPE, PCI_EXP_FLAGS_TYPE_SHIFT,
    PCI_HEADER_TYPE, KNOWN_HEADER_TYPES, PCI_HEADER_TYPE_CARDBUS, PCI_HEADER_TYPE_MASK,
    PCI_HEADER_TYPE_MFD, PCI_PRIMARY_BUS, PCI_SUBORDINATE_BUS, PCI_VENDOR_ID, PciExpType,
    PCI_CAP_ID_EXP, PCI_EXT_CAP_ID_ACS, PCI_EXT_CAP_ID_ARI, PCI_EXT_CAP_ID_SRIOV,
    PCI_SRIOV_TOTAL_VF, PCI_SRIOV_VF_OFFSET, PCI_SRIOV_VF_STRIDE,
    PORT_TYPE_BY_FIELD,
)

from . import liveupdate as lu
from .acs import pci_enable_acs
from .log import DEBUG, INFO, WARNING, ERR
from .pcidev import SRIOV_UNREAD, PciBus, PciDev

# dev.pcie_type is a PciExpType member (one object per value): compared by identity
_UPSTREAM, _DOWNSTREAM = PciExpType.UPSTREAM, PciExpType.DOWNSTREAM
_ROUTE = object()       # pci_scan_device(): no Function given, route the config cycle


def _dev_log(k, level, dev, text):
    k.log.add(level, f"pci {dev.name}: {text}")


def pci_scan_root_bus(k, domain: int, busnr: int) -> PciBus:
    bus = k.buses.get((domain, busnr))
    if bus is None:
        bus = PciBus(domain, busnr)
        k.buses[bus.key] = bus
        k.root_buses.append(bus)
    bus.end = 0xFF
    mx = pci_scan_child_bus_extend(k, bus, 0)
    bus.end = mx                               # pci_bus_update_busn_res_end()
    return bus


def only_one_child(k, bus) -> bool:
    bridge = bus.self
    if bridge is None or k.params.pcie_scan_all:
        return False
    return bridge.pcie_type in DOWNSTREAM_PORTS   # pcie_downstream_port()


def pci_scan_slot(k, bus, devfn: int, answering=None, checked: bool = False) -> int:
    """``answering``: {devfn: Function} of what answers a config cycle on ``bus`` now (the
    caller decoded the bus once, ``Fabric.answering``): the vendor-ID read of each function
    goes straight to the function found there, and a function number nobody answers reads
    ~0 without a decode, as whole empty slots are skipped. ``checked``: the caller scans only
    device 0 below a downstream port already (the only_one_child() test here)."""
    if devfn > 0 and not checked and only_one_child(k, bus):
        return 0
    devices = k.devices
    base = bus.domain << 16 | bus.number << 8   # device_key(): a function's is base | devfn
    bridge = bus.self
    nr = 0
    fn = 0
    while True:
        df = devfn + fn
        dev = devices.get(base | df)            # pci_scan_single_device(): pci_get_slot()
        if dev is None:
            if answering is None:
                dev = pci_scan_device(k, bus, df, base | df)
            else:
                hw = answering.get(df)
                if hw is not None:
                    dev = pci_scan_device(k, bus, df, base | df, hw)
        if dev is not None:
            nr += 1
            if fn > 0:
                dev.multifunction = True
        elif fn == 0:
            break                               # function 0 is required
        # next_fn() (written out here: it runs once per function). The bridge's ARI state
        # is read anew each time: pci_configure_ari() of function 0 may have just set it.
        if bridge is not None and bridge.ari_enabled:   # pci_ari_enabled(): next_ari_fn()
            if dev is None:
                break
            nfn = dev.fn.ari_next_function
            if nfn is None or nfn <= fn:
                break
            fn = nfn
        elif fn >= 7 or dev is not None and not dev.multifunction:
            break
        else:
            fn += 1
    return nr


def pci_scan_single_device(k, bus, devfn: int):
    key = device_key(bus.domain, bus.number, devfn)
    dev = k.devices.get(key)                    # pci_get_slot(): already known (rescan)
    if dev is not None:
        return dev
    return pci_scan_device(k, bus, devfn, key)


def pci_scan_device(k, bus, devfn: int, key: int, fn=_ROUTE):
    """``fn``: the Function that answers at (bus, devfn), when the caller decoded the bus."""
    if fn is _ROUTE:
        fn = k.fabric.route(bus.domain, bus.number, devfn)
    # pci_bus_read_dev_vendor_id(): nobody answers / a VF's own ID registers / D3cold → ~0
    # (fn.knob("power_state") read in place: most functions have no knobs at all)
    if fn is None or fn.physfn is not None:
        return None
    knobs = fn._knobs
    if knobs is not None and knobs.get("power_state") == "D3cold":
        return None
    cfg = fn.cfg
    l = cfg.read(PCI_VENDOR_ID, 4)              # vendor | device << 16
    vendor = l & 0xFFFF
    device = l >> 16
    if not (0 < vendor < 0xFFFF and 0 < device < 0xFFFF):
        return None                             # (~0 and 0 fail these too)
    dev = PciDev(bus, devfn, fn, key, vendor, device)
    hdr = cfg.read(PCI_HEADER_TYPE, 1)
    if pci_setup_device(k, dev, hdr):
        return None
    # pci_device_add(), written out (this runs once per function)
    k.devices[key] = dev
    bus.devices.append(dev)
    pci_init_capabilities(k, dev)
    return dev


def set_pcie_port_type(k, dev) -> None:
    """set_pcie_port_type(): the PCIe capability is found and its flags read once, into
    dev->pcie_cap / dev->pcie_flags_reg (every later PCIe capability access goes through them,
    as pcie_capability_read_*() does); a switch port claiming the wrong direction for its
    parent is corrected in both (6.18)."""
    cfg = dev.fn.cfg
    pos = cfg.find_capability(PCI_CAP_ID_EXP)   # pci_find_capability()
    dev.pcie_cap = pos
    if pos is None:
        return                                  # pcie_type None, pcie_flags_reg 0
    flags = cfg.read(pos + PCI_EXP_FLAGS, 2)
    t = PORT_TYPE_BY_FIELD[(flags & PCI_EXP_FLAGS_TYPE) >> PCI_EXP_FLAGS_TYPE_SHIFT]
    # only a switch port's claimed direction is checked against its parent (most functions
    # are endpoints: their parent is not looked up)
    parent = None
    if t is _DOWNSTREAM or t is _UPSTREAM:
        parent = dev.bus.self if not dev.is_virtfn else dev.upstream    # pci_upstream_bridge()
    if parent is not None:
        if t is _DOWNSTREAM and parent.pcie_type in DOWNSTREAM_PORTS:
            _dev_log(k, INFO, dev, "claims to be downstream port but is acting as upstream "
                                   "port, correcting type")
            t = _UPSTREAM
            flags = flags & ~PCI_EXP_FLAGS_TYPE | t << PCI_EXP_FLAGS_TYPE_SHIFT
        elif t is _UPSTREAM and parent.pcie_type is _UPSTREAM:
            _dev_log(k, INFO, dev, "claims to be upstream port but is acting as downstream "
                                   "port, correcting type")
            t = _DOWNSTREAM
            flags = flags & ~PCI_EXP_FLAGS_TYPE | t << PCI_EXP_FLAGS_TYPE_SHIFT
    dev.pcie_flags_reg = flags
    dev.pcie_type = t


def pci_setup_device(k, dev, hdr: int) -> int:
    dev.hdr_type = hdr_type = hdr & PCI_HEADER_TYPE_MASK
    if hdr & PCI_HEADER_TYPE_MFD:
        dev.multifunction = True                # (a new pci_dev starts with False)
    set_pcie_port_type(k, dev)
    # v6: right after the early config dump. With no LUO data from a previous kernel the
    # hook returns at once (it says so itself); asked here first, as it runs per function.
    if k.luo.incoming is not None:
        lu.pci_liveupdate_setup_device(k, dev)
    if hdr_type not in KNOWN_HEADER_TYPES:
        k.log.add(ERR, f"pci {dev.name}: unknown header type {hdr_type:02x}, "
                       "ignoring device")
        lu.pci_liveupdate_cleanup_device(k, dev)
        return -5                               # -EIO
    return 0


def pci_device_add(k, dev) -> None:
    k.devices[dev.key] = dev
    dev.bus.devices.append(dev)
    pci_init_capabilities(k, dev)


def pci_init_capabilities(k, dev) -> None:
    # Each step's own first test, asked here before the call (this runs per function and
    # most functions need no step but the ACS lookup): pci_configure_ari() only looks at
    # function 0 of a PCIe device; pci_enable_acs() has nothing to do without an ACS
    # capability unless the device was preserved.
    if not dev.devfn and dev.pcie_type is not None:
        pci_configure_ari(k, dev)
    # pci_iov_init() and pci_acs_init(), written out here: both begin with a
    # pci_find_ext_capability(), answered from one look at the list's index.
    # pci_iov_init() -> sriov_init(), as far as bus numbers go, before pci_acs_init() (whose
    # ACS Control write would send a later lookup through the capability list again): what
    # the VFs need is kept in the pci_dev, as dev->sriov keeps max_VF_buses
    ext = dev.fn.cfg.ext_capability_index()
    if not dev.is_virtfn:                       # (VFs are never asked: see pci_iov_bus_range())
        pos = ext.get(PCI_EXT_CAP_ID_SRIOV)
        dev.sriov_buses = None if pos is None else _sriov_buses_at(dev, pos)
    pos = dev.acs_cap = ext.get(PCI_EXT_CAP_ID_ACS)          # pci_acs_init()
    if pos is not None and dev.incoming is not None:
        lu.pci_liveupdate_init_acs(k, dev)      # (it only reads ACS Control of an incoming one)
    # UNCONFIRMED (spec §17): the v6 base calls pci_enable_acs() from pci_dma_configure() at
    # driver bind; we call it once per device at enumeration, after pci_acs_init().
    if pos or dev.was_preserved:
        pci_enable_acs(k, dev)


def pci_configure_ari(k, dev) -> None:
    """v6 order (patch 09): the liveupdate hook before the pci=noari check. The bridge's
    Device Capabilities 2 / Control 2 are reached through its cached PCIe capability
    (pcie_capability_read_dword() / pcie_capability_{set,clear}_word(): no new walk)."""
    if dev.pcie_type is None or dev.devfn:      # !pci_is_pcie(dev) || dev->devfn
        return
    bridge = dev.bus.self
    if bridge is None:
        return
    pos = bridge.pcie_cap_v2()                  # DevCap2 reads 0 when not implemented
    if pos is None:
        return
    bcfg = bridge.fn.cfg
    if not bcfg.read(pos + PCI_EXP_DEVCAP2, 4) & PCI_EXP_DEVCAP2_ARI:
        return
    # (the hook refuses a bridge that was not incoming at once: asked here first)
    if bridge.incoming is not None and lu.pci_liveupdate_configure_ari(k, bridge) == 0:
        return
    # configured anew (the bridge finished, or never was incoming): nothing is inherited now
    bridge.ari_inherited = False
    if k.params.noari:
        return
    ctl = bcfg.read(pos + PCI_EXP_DEVCTL2, 2)
    if dev.fn.cfg.find_ext_capability(PCI_EXT_CAP_ID_ARI) is not None:
        bcfg.write(pos + PCI_EXP_DEVCTL2, 2, ctl | PCI_EXP_DEVCTL2_ARI)
        bridge.ari_enabled = True
    else:
        bcfg.write(pos + PCI_EXP_DEVCTL2, 2, ctl & ~PCI_EXP_DEVCTL2_ARI)
        bridge.ari_enabled = False


def _sriov_buses(dev) -> int | None:
    """The bus numbers past its own that ``dev``'s VFs need (None: no SR-IOV capability, or
    TotalVFs 0). pci_iov_init() finds the capability (pci_find_ext_capability()) and
    sriov_init() reads TotalVFs, First VF Offset and VF Stride at its offset: the last VF's
    routing ID, pci_iov_virtfn_bus() of the highest VF, bounds compute_max_vf_buses()."""
    pos = dev.fn.cfg.find_ext_capability(PCI_EXT_CAP_ID_SRIOV)
    return None if pos is None else _sriov_buses_at(dev, pos)


def _sriov_buses_at(dev, pos: int) -> int | None:
    """:func:`_sriov_buses` of the SR-IOV capability at ``pos``."""
    cfg = dev.fn.cfg
    total = cfg.read(pos + PCI_SRIOV_TOTAL_VF, 2)
    if not total:
        return None
    offset = cfg.read(pos + PCI_SRIOV_VF_OFFSET, 2)
    stride = cfg.read(pos + PCI_SRIOV_VF_STRIDE, 2)
    return (dev.devfn + offset + stride * (total - 1)) >> 8


def pci_iov_bus_range(k, bus) -> int:
    # the most dev->sriov->max_VF_buses of the bus's PFs (kept by pci_iov_init(); a pci_dev
    # rebuilt from a saved kernel finds it again on first use)
    mx = 0
    for dev in bus.devices:
        if dev.is_virtfn:
            continue
        need = dev.sriov_buses
        if need == SRIOV_UNREAD:
            need = dev.sriov_buses = _sriov_buses(dev)
        if need is not None and need > mx:
            mx = need
    return mx


def pci_add_new_bus(k, parent, dev, busnr: int) -> PciBus:
    child = PciBus(parent.domain, busnr, self_dev=dev, parent=parent)
    parent.children.append(child)
    dev.subordinate = child
    k.buses[(parent.domain, busnr)] = child
    return child


def pci_scan_child_bus_extend(k, bus, available_buses: int) -> int:
    mx = bus.start
    # Probing a slot whose function 0 does not answer reads ~0 and moves on (function 0 is
    # required); asking the fabric which devfns answer skips those reads without changing
    # what is found or in which order. Below a downstream port only device 0 is scanned.
    answering = k.fabric.answering(bus.domain, bus.number)
    if answering:
        if only_one_child(k, bus):
            if min(answering) < 8:              # a function of device 0 answers
                pci_scan_slot(k, bus, 0, answering, True)
        else:
            for devnr in sorted({df >> 3 for df in answering}):
                pci_scan_slot(k, bus, devnr << 3, answering, True)
    devices = bus.devices
    if not devices:
        return mx                               # (nothing to reserve buses for or scan)
    mx += pci_iov_bus_range(k, bus)             # reserve buses for SR-IOV
    bridges = [d for d in devices if d.hdr_type in (1, 2)]
    if bridges:
        for dev in bridges:
            mx = pci_scan_bridge_extend(k, bus, dev, mx, 0, 0)
        for dev in bridges:
            mx = pci_scan_bridge_extend(k, bus, dev, mx, 0, 1)
    return mx


def pci_scan_bridge_extend(k, bus, dev, mx: int, available_buses: int, pass_: int) -> int:
    """Mirrors pci_scan_bridge_extend() with the v6 liveupdate begin/end hooks (spec §6)."""
    is_cardbus = dev.hdr_type == PCI_HEADER_TYPE_CARDBUS
    liveupdate = lu.pci_liveupdate_scan_bridge_begin(k, bus, dev, pass_)
    assign_new_buses = k.assign_all_busses and not liveupdate
    cfg = dev.fn.cfg
    buses = cfg.read(PCI_PRIMARY_BUS, 4)
    primary, secondary, subordinate = buses & 0xFF, buses >> 8 & 0xFF, buses >> 16 & 0xFF
    if k.log.keep_debug:        # pci_dbg(): formatted only when dynamic debug is on
        k.log.add(DEBUG, f"pci {dev.name}: scanning [bus {secondary:02x}-{subordinate:02x}] "
                         f"behind bridge, pass {pass_}")
    if not primary and primary != bus.number and secondary and subordinate:
        _dev_log(k, WARNING, dev, "Primary bus is hard wired to 0")
        primary = bus.number
    broken = False
    if not pass_ and (primary != bus.number or secondary <= bus.number
                      or secondary > subordinate):
        _dev_log(k, INFO, dev, f"bridge configuration invalid ([bus {secondary:02x}-"
                               f"{subordinate:02x}]), reconfiguring")
        broken = True
    if (secondary or subordinate) and not assign_new_buses and not is_cardbus and not broken:
        if not pass_:
            child = k.buses.get((bus.domain, secondary))
            if child is None:
                child = pci_add_new_bus(k, bus, dev, secondary)
                child.start, child.end = secondary, subordinate
            elif dev.subordinate is None:
                dev.subordinate = child
            cmax = pci_scan_child_bus_extend(k, child, subordinate - secondary)
            if cmax > subordinate:
                _dev_log(k, WARNING, dev, f"bridge has subordinate {subordinate:02x} but max "
                                          f"busn {cmax:02x}")
            if subordinate > mx:
                mx = subordinate
    else:
        if not pass_:
            if assign_new_buses or broken or is_cardbus:
                # stop config forwarding until pass 1 renumbers it
                cfg.write(PCI_PRIMARY_BUS, 4, buses & ~0xFFFFFF)
        elif liveupdate and not lu.pci_liveupdate_may_assign_buses(k, bus, dev):
            pass                                # logged by the hook; nothing below is scanned
        else:
            child = k.buses.get((bus.domain, mx + 1))
            if child is None:
                child = pci_add_new_bus(k, bus, dev, mx + 1)
            elif dev.subordinate is None:
                dev.subordinate = child
            # pci_add_new_bus() -> pci_alloc_child_bus(): the new bus spans [busnr, 0xff]
            # while it is scanned (the bridge forwards every bus number above it), so
            # devices already behind the bridge answer in this same scan; the subordinate is
            # trimmed to the highest bus found afterwards (pci_bus_update_busn_res_end())
            child.start, child.end = mx + 1, 0xFF
            mx += 1
            if available_buses:
                available_buses -= 1
            buses = (buses & 0xFF000000) | bus.number | (child.start << 8) | (child.end << 16)
            cfg.write(PCI_PRIMARY_BUS, 4, buses)
            if not is_cardbus:
                mx = pci_scan_child_bus_extend(k, child, available_buses)
            child.end = mx
            cfg.write(PCI_SUBORDINATE_BUS, 1, mx)
            b = bus
            while b.parent is not None:
                if (child.end > b.end or child.number > b.end or child.number < b.number
                        or child.end < b.number):
                    _dev_log(k, INFO, dev, f"devices behind bridge are unusable because [bus "
                                           f"{child.start:02x}-{child.end:02x}] cannot be "
                                           "assigned for them")
                    break
                b = b.parent
    if pass_ and dev.inherit_buses:             # (the end hook only clears inherit_buses)
        lu.pci_liveupdate_scan_bridge_end(k, dev, pass_)
    return mx


# -- SR-IOV: pci_iov_add_virtfn() -------------------------------------------------------------
def pci_iov_add_virtfns(k, pf) -> None:
    """Add the VFs the fabric exposes for ``pf`` (VF Enable set), after the PF.

    Simulator choice: the PF driver enabling SR-IOV right after enumeration (the kernel's own
    sriov_init() would clear a VF Enable found at boot; we keep the fabric's VFs instead).
    """
    for vf in pf.fn.virtfns or ():
        busnr = pf.bus.number + vf.vbus_delta
        if busnr > 0xFF:
            continue
        key = device_key(pf.domain, busnr, vf.devfn)
        if key in k.devices:
            continue
        bus = k.buses.get((pf.domain, busnr))
        if bus is None:                         # virtfn_add_bus(): a bridge-less bus
            bus = PciBus(pf.domain, busnr, self_dev=None, parent=pf.bus, virtual=True)
            pf.bus.children.append(bus)
            k.buses[bus.key] = bus
        dev = PciDev(bus, vf.devfn, vf, key)
        dev.is_virtfn, dev.physfn = True, pf
        dev.vendor, dev.device = pf.vendor, vf.device
        if pci_setup_device(k, dev, pf.hdr_type):
            continue
        pci_device_add(k, dev)


def pci_bus_add_virtfns(k, devs) -> None:
    for dev in devs:
        if dev.fn.virtfns and not dev.is_virtfn:   # (a VF's Function has no VFs)
            pci_iov_add_virtfns(k, dev)
