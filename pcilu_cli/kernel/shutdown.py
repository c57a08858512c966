# SPDX-License-Identifier: GPL-2.0-only
"""``pci_device_shutdown()`` (``drivers/pci/pci-driver.c``) with v6 patches 10 and 11.

Every device is frozen first; on kexec, Bus Master Enable is cleared unless the device is
outgoing-preserved (endpoints and their auto-preserved bridges) or in D3cold/unknown state.
``device_shutdown()`` walks devices in reverse registration order (children first).
"""
from __future__ import annotations

from pcilu_cli.abi.bdf import key_name_in
from pcilu_cli.abi.pci_regs import PCI_COMMAND, PCI_COMMAND_MASTER, POWER_STATES

from . import liveupdate as lu

_LE_D3HOT = POWER_STATES[:4]       # D0..D3hot


def _le_d3hot(fn) -> bool:
    # current_state <= PCI_D3hot: PMCSR only encodes D0..D3hot, so only the fabric's knob can
    # say D3cold (or an unknown state) — no capability walk needed
    st = fn.knob("power_state")
    return st is None or st in _LE_D3HOT


def pci_device_shutdown(k, dev, kexec_in_progress: bool) -> bool:
    """Returns whether Bus Master Enable was cleared (a fact the next generation reports:
    ``bus_master_cleared``; the kernel itself logs nothing here)."""
    lu.pci_liveupdate_freeze(k, dev)
    # (pm_runtime_resume() and the driver's ->shutdown() are not modelled)
    if kexec_in_progress and not (lu.keeps_bus_master(k)
                                  and lu.pci_liveupdate_is_outgoing(k, dev)):
        cfg = dev.fn.cfg
        cmd = cfg.read(PCI_COMMAND, 2)
        # __pci_set_master() writes only on change, so a clear BME needs no power-state look
        if cmd & PCI_COMMAND_MASTER and _le_d3hot(dev.fn):
            pci_clear_master(k, dev, cmd)
            return True
    return False


def pci_clear_master(k, dev, cmd=None) -> None:
    cfg = dev.fn.cfg
    if cmd is None:
        cmd = cfg.read(PCI_COMMAND, 2)
    new = cmd & ~PCI_COMMAND_MASTER
    if new != cmd:
        cfg.write(PCI_COMMAND, 2, new)


class ShutdownView:
    """What :func:`pci_device_shutdown` reads and writes of a ``pci_dev`` — ``frozen``,
    ``outgoing``, ``name``, ``fn`` — for a device a kernel holds only as a row of its saved
    state (a kernel read from a state file builds its ``pci_dev`` objects on first use; a
    shutdown of 65,536 devices need not build them). The holder writes ``frozen`` back."""

    __slots__ = ("key", "name", "fn", "frozen", "outgoing")

    def __init__(self, key: int, name: str, fn, frozen: bool, outgoing):
        # name: dev_name(), the key's DDDD:BB:DD.F
        self.key, self.name, self.fn, self.frozen, self.outgoing = \
            key, name, fn, frozen, outgoing


def device_shutdown(k, kexec_in_progress: bool) -> list:
    """Shut every device down; returns ``[(name, uid)]`` of the devices whose Bus Master
    Enable this shutdown cleared, in registration order."""
    cleared = []
    prefixes: dict = {}     # (dev.name of each cleared device, each bus's part formatted once)

    def shut(dev):
        if pci_device_shutdown(k, dev, kexec_in_progress):
            # a ShutdownView was handed its name with its row; a pci_dev's is formatted here
            name = dev.name if type(dev) is ShutdownView else key_name_in(prefixes, dev.key)
            cleared.append((name, dev.fn.uid))
    devs = k.devices
    # a kernel read from a state file: devices nobody built are shut down through a
    # ShutdownView of their row, in the same (reverse registration) order
    walk = getattr(devs, "walk_unbuilt", None)
    if walk is None or not walk(shut, ShutdownView, reverse=True):
        for dev in reversed(list(devs.values())):
            shut(dev)
    cleared.reverse()
    return cleared
