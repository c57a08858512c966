# SPDX-License-Identifier: GPL-2.0-only
"""``pci_enable_acs()`` of ``drivers/pci/pci.c`` with the v6 liveupdate short-circuit.

Normal path: if an IOMMU requested ACS and no device quirk handled it, enable SV|RR|CR|UF (TB
too with ``pci=noats``); then always apply ``pci=disable_acs_redir=`` (RR|CR|EC off) and
``pci=config_acs=`` computed from the firmware value (``__pci_config_acs()``), and write the
register. v6 (patch 08): a ``was_preserved`` device gets the ACS Control value captured at
enumeration written back instead, and none of the above runs.

``<pci_dev>`` matching (``pci_dev_str_match()``): ``[domain:]bus:dev.fn`` and
``pci:vendor:device[:subvendor:subdevice]`` (0 = any); the ``/dev.fn`` path form is not
supported (treated as a parse failure).
"""
from __future__ import annotations

import errno as _errno
import re

from pcilu_cli.abi.bdf import pci_func, pci_slot
from pcilu_cli.abi.pci_regs import (
    PCI_ACS_CAP, PCI_ACS_CR, PCI_ACS_CTRL, PCI_ACS_DT, PCI_ACS_EC, PCI_ACS_RR, PCI_ACS_SV,
    PCI_ACS_TB, PCI_ACS_UF, PCI_SUBSYSTEM_ID, PCI_SUBSYSTEM_VENDOR_ID, PCI_VENDOR_ID_INTEL,
)

from . import liveupdate as lu
from .log import INFO, ERR

_ALL = PCI_ACS_SV | PCI_ACS_TB | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF | PCI_ACS_EC | PCI_ACS_DT

_BDF = re.compile(r"(?:([0-9a-fA-F]+):)?([0-9a-fA-F]+):([0-9a-fA-F]+)\.([0-7])")
_ID = re.compile(r"pci:([0-9a-fA-F]+):([0-9a-fA-F]+)(?::([0-9a-fA-F]+):([0-9a-fA-F]+))?")


def pci_dev_str_match(k, dev, p: str):
    """Returns (ret, rest): 1 match, 0 no match, <0 parse error."""
    m = _ID.match(p)
    if m:
        v, d = int(m.group(1), 16), int(m.group(2), 16)
        ok = (not v or v == dev.vendor) and (not d or d == dev.device)
        if m.group(3) is not None:
            sv, sd = int(m.group(3), 16), int(m.group(4), 16)
            ssv = dev.fn.cfg.read(PCI_SUBSYSTEM_VENDOR_ID, 2)
            ssd = dev.fn.cfg.read(PCI_SUBSYSTEM_ID, 2)
            ok = ok and (not sv or sv == ssv) and (not sd or sd == ssd)
        return (1 if ok else 0), p[m.end():]
    m = _BDF.match(p)
    if m and not p[m.end():].startswith("/"):
        dom = int(m.group(1), 16) if m.group(1) else 0
        bus, slot, fn = int(m.group(2), 16), int(m.group(3), 16), int(m.group(4))
        ok = (dom == dev.domain and bus == dev.bus.number and slot == pci_slot(dev.devfn)
              and fn == pci_func(dev.devfn))
        return (1 if ok else 0), p[m.end():]
    return -22, p


def __pci_config_acs(k, dev, ctrl: int, fw_ctrl: int, p: str | None, acs_mask: int,
                     acs_flags: int) -> int:
    if not p:
        return ctrl
    mask, flags, ret = acs_mask, acs_flags, 0
    while p:
        if not acs_mask:
            at = p.find("@")
            if at < 0:
                k.log.add(ERR, f"pci {dev.name}: ACS Flags missing")
                return ctrl
            mask = flags = 0
            shift = 0
            for ch in reversed(p[:at]):
                if ch == "0":
                    mask |= 1 << shift
                elif ch == "1":
                    mask |= 1 << shift
                    flags |= 1 << shift
                elif ch not in "xX":
                    k.log.add(ERR, f"pci {dev.name}: Invalid ACS flags... Ignoring")
                    return ctrl
                shift += 1
            p = p[at + 1:]
        if mask & ~_ALL:
            k.log.add(ERR, f"pci {dev.name}: Invalid ACS flags specified")
            return ctrl
        ret, p = pci_dev_str_match(k, dev, p)
        if ret < 0:
            k.log.add_once("acs-parse", INFO, "PCI: Can't parse ACS command line parameter")
            break
        if ret == 1:
            break
        if not p or p[0] not in ";,":
            break
        p = p[1:]
    if ret != 1:
        return ctrl
    if pci_dev_specific_disable_acs_redir(k, dev) == 0:
        return ctrl                              # a device quirk handled the device
    ctrl = (fw_ctrl & ~mask) | (flags & mask)
    k.log.add(INFO, f"pci {dev.name}: Configured ACS to {ctrl:#06x}")
    return ctrl


def pci_dev_specific_disable_acs_redir(k, dev) -> int:
    """0 when a ``pci_dev_acs_ops`` entry with a ``disable_acs_redir`` op matches the device
    (only the Sunrise Point PCH entry has one, pci-fabric.md §2.2), else -ENOTTY.

    Our choices: the fabric's ``acs_quirk`` knob forces the enable-ACS answer only (which
    entry a forced device would match is unknown), so this op follows the SPT table; the
    quirk's own write to the SPT-specific ACS layout is not modelled, only that it replaces
    the standard ``disable_acs_redir=``/``config_acs=`` handling."""
    if dev.vendor != PCI_VENDOR_ID_INTEL or not dev.acs_cap:
        return -_errno.ENOTTY
    from pcilu_cli.fabric.quirks import spt_pch_acs_match
    return 0 if spt_pch_acs_match(dev.vendor, dev.device, dev.pcie_type) else -_errno.ENOTTY


def pci_enable_acs(k, dev) -> None:
    if not dev.acs_cap and not dev.was_preserved:
        return      # the hook refuses (-EINVAL) and there is no ACS capability to configure
    # the hook's own first test (an unpreserved device: -EINVAL at once) asked here: this
    # runs for every port with ACS at every enumeration
    if dev.was_preserved and not lu.pci_liveupdate_enable_acs(k, dev):
        return                                   # v6: inherited value re-imposed
    pos = dev.acs_cap
    if not pos:
        return                                   # (a quirk may have done the job)
    params = k.params
    # pci_dev_specific_enable_acs() returns 0 when a quirk handled the device
    enable_acs = params.iommu and not k.needs_acs_quirk(dev)
    cfg = dev.fn.cfg
    cap = cfg.read(pos + PCI_ACS_CAP, 2)
    ctrl = fw_ctrl = cfg.read(pos + PCI_ACS_CTRL, 2)
    if enable_acs:                               # pci_std_enable_acs()
        ctrl |= cap & (PCI_ACS_SV | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF)
        if params.noats:
            ctrl |= cap & PCI_ACS_TB
    if params.disable_acs_redir:                 # (__pci_config_acs() of no option: ctrl)
        ctrl = __pci_config_acs(k, dev, ctrl, fw_ctrl, params.disable_acs_redir,
                                PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC, 0)
    if params.config_acs:
        ctrl = __pci_config_acs(k, dev, ctrl, fw_ctrl, params.config_acs, 0, 0)
    if ctrl != fw_ctrl:
        cfg.write(pos + PCI_ACS_CTRL, 2, ctrl)
