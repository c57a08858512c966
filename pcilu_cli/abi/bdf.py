# SPDX-License-Identifier: GPL-2.0-only
"""PCI addresses, in text and as the kernel's numbers: the one home for BDF parsing/formatting.

    "DDDD:BB:DD.F"        what lspci and ``dev_name()`` print (``pci_setup_device()`` names a
                          device ``"%04x:%02x:%02x.%d"``); a domain wider than 4 hex digits is
                          printed in full, as lspci does
    "pciDDDD:BB"          the host bridge above root bus BB (``pci_register_host_bridge()``
                          names it ``"pci%04x:%02x"``): the ``/sys/devices/pciDDDD:BB``
                          directory every function below that root bus sits in
    devfn                 ``PCI_DEVFN(slot, func)``: slot << 3 | func
    pci_dev_id            ``pci_dev_id()``: bus << 8 | devfn (the ``bdf`` of ``struct pci_dev_ser``)
    device key            ``pci_ser_xa_key()`` as fixed in v6: ``(u64)domain << 16 | pci_dev_id``
                          (the domain is widened before the shift); the simulated kernel keys
                          every per-device dict by it

Parsing raises ``ValueError``; callers turn it into bad input naming their field.
"""
from __future__ import annotations

import re

_BDF_PATTERN = r"^(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$"
_BDF_RE = None                 # compiled on the first parse (not at every pcilu start)
MAX_DOMAIN = 0xFFFFFF          # what a BDF the user types may name (Linux: 16 bits, VMD 24)


def pci_devfn(slot: int, func: int) -> int:
    """PCI_DEVFN()."""
    return slot << 3 | func


def pci_slot(devfn: int) -> int:
    """PCI_SLOT()."""
    return devfn >> 3 & 0x1F


def pci_func(devfn: int) -> int:
    """PCI_FUNC()."""
    return devfn & 7


def parse_bdf(text: str, *, max_domain: int = MAX_DOMAIN) -> tuple[int, int, int]:
    """``[DDDD:]BB:DD.F`` -> (domain, bus, devfn); ValueError if malformed."""
    global _BDF_RE
    if _BDF_RE is None:
        _BDF_RE = re.compile(_BDF_PATTERN)
    m = _BDF_RE.match(str(text).strip())
    if not m:
        raise ValueError(f"not a PCI address (expected [DDDD:]BB:DD.F): {text!r}")
    dom = int(m.group(1), 16) if m.group(1) else 0
    bus, dev, fn = int(m.group(2), 16), int(m.group(3), 16), int(m.group(4))
    if dev > 0x1F:
        raise ValueError(f"device number {dev:#x} > 0x1f in {text!r}")
    if dom > max_domain:
        raise ValueError(f"domain {dom:#x} > {max_domain:#x} in {text!r}")
    return dom, bus, (dev << 3) | fn


def format_bdf(domain: int, bus: int, devfn: int) -> str:
    """``dev_name()`` of the function at (domain, bus, devfn)."""
    return f"{domain:04x}:{bus:02x}:{devfn >> 3:02x}.{devfn & 7}"


def format_bus(domain: int, bus: int) -> str:
    """A bus as the kernel names it (``pci_bus_add()``'s ``"%04x:%02x"``)."""
    return f"{domain:04x}:{bus:02x}"


def format_host_bridge(domain: int, bus: int) -> str:
    """The host bridge device above root bus ``bus`` as the kernel names it
    (``pci_register_host_bridge()``: ``"pci%04x:%02x"`` of the domain and the bridge's first
    bus number): the ``/sys/devices/pciDDDD:BB`` directory of every function below it."""
    return f"pci{domain:04x}:{bus:02x}"


def format_devfn(devfn: int) -> str:
    """``DD.F``: a function's address on its bus."""
    return f"{devfn >> 3:02x}.{devfn & 7}"


def canonical_bdf(text: str) -> str:
    """``text`` in the one spelling this program prints (``1:0.0`` -> ``0000:01:00.0``)."""
    return format_bdf(*parse_bdf(text))


def pci_dev_id(bus: int, devfn: int) -> int:
    """pci_dev_id(): the 16-bit requester ID."""
    return bus << 8 | devfn


def format_dev_id(domain: int, dev_id: int) -> str:
    """The BDF text of a ``struct pci_dev_ser`` entry (``domain``, ``bdf``)."""
    return format_bdf(domain, dev_id >> 8, dev_id & 0xFF)


def device_key(domain: int, bus: int, devfn: int) -> int:
    """pci_ser_xa_key() of the function at (domain, bus, devfn)."""
    return domain << 16 | bus << 8 | devfn


def xa_key(domain: int, dev_id: int) -> int:
    """pci_ser_xa_key() of a ``struct pci_dev_ser`` entry (``domain``, ``bdf``)."""
    return domain << 16 | dev_id


def key_parts(key: int) -> tuple[int, int, int]:
    """(domain, bus, devfn) of a device key."""
    return key >> 16, key >> 8 & 0xFF, key & 0xFF


def key_dev_id(key: int) -> int:
    """The pci_dev_id() half of a device key."""
    return key & 0xFFFF


def key_of_bdf(text: str) -> int:
    """The device key of a BDF text; ValueError if malformed."""
    return device_key(*parse_bdf(text))


def key_name(key: int) -> str:
    """dev_name() of a device key."""
    return format_bdf(*key_parts(key))


# "DD.F" of every devfn: naming many devices formats only each bus's "DDDD:BB:" (key_name_in)
DEVFN_NAMES = tuple(f"{d >> 3:02x}.{d & 7}" for d in range(256))


def key_name_in(prefixes: dict, key: int) -> str:
    """key_name() for a pass that names many devices (a 65,536-device report, shutdown or
    save): ``prefixes`` caches ``key >> 8`` -> ``"DDDD:BB:"`` across the pass."""
    pre = prefixes.get(key >> 8)
    if pre is None:
        pre = prefixes[key >> 8] = f"{key >> 16:04x}:{key >> 8 & 0xFF:02x}:"
    return pre + DEVFN_NAMES[key & 0xFF]
