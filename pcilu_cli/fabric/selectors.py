# SPDX-License-Identifier: GPL-2.0-only
"""Device selectors, spelled as lspci spells them, over a fabric.

    -s [[[[DOMAIN]:]BUS]:][DEV][.[FUNC]]    lspci's slot filter (empty or * = any)
    -d [VENDOR]:[DEVICE][:CLASS[:PROG_IF]]  lspci's ID filter (hex; empty or * = any)
    --class CLASS                           "0200", "02", "020000" (hex, as lspci -n shows
                                            it), or the class name lspci prints ("Ethernet
                                            controller", "Non-Volatile memory controller")
    --below BDF                             every function in the subtree below a bridge
    --driver NAME                           the bound driver recorded in a capture
    --all                                   every function

Kinds combine as lspci's filters do (a function must pass every kind given); values of one
kind repeated are alternatives. Bridges (type 1 and CardBus headers) are never selected by
a filter: preserving an endpoint brings its bridges along. Explicit BDFs are kept as given.

API:
    Selection(slots=(), ids=(), classes=(), below=(), drivers=(), all=False)
    Selection.empty -> bool
    select(fabric, selection) -> list[str]     BDFs in fabric order (raises BadInput)
"""
from __future__ import annotations

import re

from pcilu_cli.errors import BadInput, Value
from pcilu_cli.abi.bdf import format_bdf, parse_bdf, pci_func, pci_slot

# class names as lspci prints them (pci.ids), subclass first, then base class
CLASS_NAMES = {
    0x0100: "SCSI storage controller", 0x0101: "IDE interface", 0x0104: "RAID bus controller",
    0x0106: "SATA controller", 0x0107: "Serial Attached SCSI controller",
    0x0108: "Non-Volatile memory controller", 0x0180: "Mass storage controller",
    0x0200: "Ethernet controller", 0x0207: "Infiniband controller",
    0x0280: "Network controller", 0x0300: "VGA compatible controller",
    0x0302: "3D controller", 0x0380: "Display controller", 0x0403: "Audio device",
    0x0600: "Host bridge", 0x0601: "ISA bridge", 0x0604: "PCI bridge",
    0x0607: "CardBus bridge", 0x0680: "Bridge", 0x0880: "System peripheral",
    0x0c03: "USB controller", 0x0c05: "SMBus", 0x0b40: "Co-processor",
    0x1080: "Encryption controller", 0x1200: "Processing accelerators",
    0x1180: "Signal processing controller", 0xff00: "Unassigned class",
}
BASE_NAMES = {0x01: "Mass storage controller", 0x02: "Network controller",
              0x03: "Display controller", 0x04: "Multimedia controller",
              0x05: "Memory controller", 0x06: "Bridge", 0x07: "Communication controller",
              0x08: "Generic system peripheral", 0x0c: "Serial bus controller",
              0x0b: "Processor", 0x10: "Encryption controller",
              0x11: "Signal processing controller", 0x12: "Processing accelerators",
              0xff: "Unassigned class"}


class Selection(Value):
    """The selectors of one command line. (A plain class rather than a dataclass: every
    kernel command builds one, and a dataclass's methods are generated at import.)"""

    FIELDS = ("slots", "ids", "classes", "below", "drivers", "all")

    def __init__(self, slots: tuple = (), ids: tuple = (), classes: tuple = (),
                 below: tuple = (), drivers: tuple = (), all: bool = False):
        self.slots = slots
        self.ids = ids
        self.classes = classes
        self.below = below
        self.drivers = drivers
        self.all = all


    @property
    def empty(self) -> bool:
        return not (self.slots or self.ids or self.classes or self.below or self.drivers
                    or self.all)


def _hex(text: str, bits: int, what: str, field: str):
    if text in ("", "*"):
        return None
    try:
        v = int(text, 16)
    except ValueError:
        raise BadInput(f"{what} {text!r} is not hexadecimal", field=field) from None
    if v >> bits:
        raise BadInput(f"{what} {text!r} is larger than {bits} bits", field=field)
    return v


def parse_id(spec: str):
    """``[VENDOR]:[DEVICE][:CLASS[:PROG_IF]]`` -> (vendor, device, class16, prog_if)."""
    parts = spec.split(":")
    if len(parts) < 2 or len(parts) > 4:
        raise BadInput(f"-d {spec!r}: expected [VENDOR]:[DEVICE][:CLASS[:PROG_IF]]",
                       field="-d")
    v = _hex(parts[0], 16, "vendor", "-d")
    d = _hex(parts[1], 16, "device", "-d")
    c = _hex(parts[2], 16, "class", "-d") if len(parts) > 2 else None
    p = _hex(parts[3], 8, "prog-if", "-d") if len(parts) > 3 else None
    return v, d, c, p


def parse_slot(spec: str):
    """lspci's ``[[[[DOMAIN]:]BUS]:][DEV][.[FUNC]]`` -> (domain, bus, dev, fn), None = any."""
    s = spec.strip()
    func = None
    if "." in s:
        s, f = s.rsplit(".", 1)
        func = _hex(f, 3, "function", "-s")
        if func is not None and func > 7:
            raise BadInput(f"-s {spec!r}: function > 7", field="-s")
    parts = s.split(":")
    if len(parts) > 3:
        raise BadInput(f"-s {spec!r}: expected [[[[DOMAIN]:]BUS]:][DEV][.[FUNC]]", field="-s")
    parts = [None] * (3 - len(parts)) + parts
    dom = _hex(parts[0], 32, "domain", "-s") if parts[0] is not None else None
    bus = _hex(parts[1], 8, "bus", "-s") if parts[1] is not None else None
    dev = _hex(parts[2], 5, "device", "-s")
    if dev is not None and dev > 0x1F:
        raise BadInput(f"-s {spec!r}: device > 1f", field="-s")
    return dom, bus, dev, func


def parse_class(spec: str):
    """(class16 or None, base or None, prog_if or None) from a hex class or an lspci name."""
    s = spec.strip()
    if re.fullmatch(r"[0-9a-fA-F]{2}", s):
        return None, int(s, 16), None
    if re.fullmatch(r"[0-9a-fA-F]{4}", s):
        return int(s, 16), None, None
    if re.fullmatch(r"[0-9a-fA-F]{6}", s):
        return int(s[:4], 16), None, int(s[4:], 16)
    low = s.lower()
    for code, name in CLASS_NAMES.items():
        if name.lower() == low:
            return code, None, None
    for code, name in BASE_NAMES.items():
        if name.lower() == low:
            return None, code, None
    known = sorted({*CLASS_NAMES.values(), *BASE_NAMES.values()})
    raise BadInput(f"--class {spec!r}: not a hex class (0200, 02, 010802) nor a class name "
                   f"lspci prints ({', '.join(known[:6])}, ...)", field="--class")


def _is_bridge(fn) -> bool:
    return (fn.header_type & 0x7F) in (1, 2)


def _below(fab, fn, anchors) -> bool:
    up = fn.upstream if fn.physfn is None else fn.physfn
    while up is not None:
        if id(up) in anchors:
            return True
        up = up.upstream if up.physfn is None else up.physfn
    return False


def select(fab, sel: Selection) -> list[str]:
    """BDFs of the functions the selectors pick, in the fabric's order."""
    slots = [parse_slot(s) for s in sel.slots]
    ids = [parse_id(s) for s in sel.ids]
    classes = [parse_class(s) for s in sel.classes]
    anchors = set()
    for b in sel.below:
        try:
            d, bus, devfn = parse_bdf(b)
        except ValueError as e:
            raise BadInput(f"--below {b!r}: {e}", field="--below") from None
        fn = fab.route(d, bus, devfn)
        if fn is None:
            raise BadInput(f"--below {format_bdf(d, bus, devfn)}: no function answers there",
                           field="--below")
        anchors.add(id(fn))
    drivers = None
    if sel.drivers:
        drivers = (fab.source or {}).get("drivers")
        if not isinstance(drivers, dict):
            raise BadInput("--driver needs the bound drivers a capture records (`pcilu "
                           "capture`); this fabric has none", field="--driver")
    out = []
    for fn in fab.functions():
        where = fab.current_bdf(fn)
        if where is None or _is_bridge(fn):
            continue
        dom, bus, devfn = where
        bdf = format_bdf(dom, bus, devfn)
        if slots and not any((s[0] is None or s[0] == dom) and (s[1] is None or s[1] == bus)
                             and (s[2] is None or s[2] == pci_slot(devfn))
                             and (s[3] is None or s[3] == pci_func(devfn)) for s in slots):
            continue
        cc = fn.class_code
        if ids and not any((v is None or v == fn.vendor) and (d is None or d == fn.device)
                           and (c is None or c == cc >> 8) and (p is None or p == cc & 0xFF)
                           for v, d, c, p in ids):
            continue
        if classes and not any((c is None or c == cc >> 8) and (b is None or b == cc >> 16)
                               and (p is None or p == cc & 0xFF) for c, b, p in classes):
            continue
        if anchors and not _below(fab, fn, anchors):
            continue
        if drivers is not None and drivers.get(bdf) not in sel.drivers:
            continue
        out.append(bdf)
    return out
