# SPDX-License-Identifier: GPL-2.0-only
"""Faults a kernel developer injects, and driver behaviour beyond the well-behaved vfio-pci
stand-in: each function takes the generation's Kernel ``k`` and does what the named kernel
path (or a buggy driver) does, nothing more.

* :func:`set_driver_fault` -- the driver's file callbacks forget ``pci_liveupdate_unpreserve()``
  (``unpreserve``) or ``pci_liveupdate_finish()`` (``finish``: the file is finished, the
  device is not). The file handler is otherwise unchanged; LUO still does its FLB part.
* :func:`preserve_file_without_device` -- a file of a handler linked to the PCI FLB whose
  ``preserve()`` preserves no device: the FLB is taken (``struct pci_ser`` allocated, the
  record counts the file) with no entry.
* :func:`pci_preserve_direct` -- a driver calling ``pci_liveupdate_preserve()`` outside a
  file's ``preserve()``: with no preserved file there is no outgoing FLB object and the
  kernel returns ``-ENOENT`` (``pci_liveupdate_flb_get_outgoing()``).
* :func:`corrupt` -- overwrite one field of the outgoing or incoming ``struct pci_ser``.
* :func:`reboot` -- a normal (non-kexec) shutdown: ``pci_device_shutdown()`` freezes every
  device (patch 10) and leaves Bus Master alone (only kexec clears it).
* :func:`is_outgoing` -- ``pci_liveupdate_is_outgoing()`` (patch 11): WARN_ONCE when asked
  about a device that is not frozen.
* :func:`restore_state` / :func:`rebind` -- ``pci_restore_state()`` after a reset and a driver
  rebind both call ``pci_enable_acs()`` again (patch 08 re-imposes the inherited value).
* :func:`register_flb` -- ``pci_liveupdate_register_flb()`` once more (-EEXIST), for another
  handler (0), with a second FLB of the same compatible (-EEXIST), with the global table full
  (-ENOSPC is checked first), or as the ``CONFIG_PCI_LIVEUPDATE=n`` stub (-EOPNOTSUPP).
"""
from __future__ import annotations

import errno as _errno

from pcilu_cli.errors import BadInput, KernelRefusal

from . import liveupdate as lu
from .log import DEBUG
from .luo import LUO_FLB_MAX, FileHandler, Flb, errno_name

DRIVER_FAULTS = ("unpreserve", "finish")
NO_DEVICE_KEY = -1                      # LuoFile.key of a file that stands for no device
REGISTER_MODES = ("again", "other-handler", "same-compatible", "table-full", "config-n")
CORRUPT_FIELDS = ("nr_devices", "max_nr_devices", "refcount", "domain", "bdf")


def set_driver_fault(k, bdf, forget: str | None) -> dict:
    dev = k.dev(bdf)
    if forget is None:
        k.driver_faults.pop(dev.key, None)
    else:
        k.driver_faults[dev.key] = forget
    return {"bdf": dev.name, "forget": forget}


def preserve_file_without_device(k, session: str, token: int | None) -> dict:
    from .handover import VFIO_COMPATIBLE
    if token is None:
        token = (1 << 47) | len(k.luo.sessions.get(session, ()))
    start = len(k.log)
    err, f = k.luo.preserve_file(session, VFIO_COMPATIBLE, token, NO_DEVICE_KEY)
    if err:
        raise KernelRefusal(errno_name(err), "LUO refused the file", bdf=None)
    return {"session": session, "token": token, "messages": k.log.lines(start)}


def pci_preserve_direct(k, bdf) -> dict:
    dev = k.dev(bdf)
    start = len(k.log)
    err = lu.pci_liveupdate_preserve(k, dev)
    if err:
        raise k._refusal(err, dev.key, start)
    return {"bdf": dev.name, "messages": k.log.lines(start)}


def _ser(k, which: str):
    ser = k.pci_ser_obj(which)
    if ser is None:
        raise BadInput(f"there is no {which} struct pci_ser to corrupt in generation "
                       f"{k.generation}", field="corrupt")
    return ser


def corrupt(k, which: str, field: str, value: int, slot: int | None = None,
            bdf=None) -> dict:
    """Write ``value`` into one field of a ``struct pci_ser`` the kernel holds (memory
    corruption, or a crafted hand-over): the header's ``nr_devices``/``max_nr_devices`` or an
    entry's ``refcount``/``domain``/``bdf`` (entry by slot, or by the device that owns it)."""
    ser = _ser(k, which)
    if field in ("nr_devices", "max_nr_devices"):
        if field == "max_nr_devices":
            if getattr(ser, "max_nr", None) is None:
                raise BadInput(f"the {which} struct pci_ser of {k.profile.name} has no "
                               "max_nr_devices (kho_block chain)", field="corrupt")
            from pcilu_cli.abi import pci
            from pcilu_cli.abi.codec import field_codec, offsetof
            field_codec(pci.pci_ser_flex_header, "max_nr_devices").pack_into(
                ser.blob, offsetof(pci.pci_ser_flex_header, "max_nr_devices"),
                value & 0xFFFFFFFF)
            ser.max_nr = value          # the kernel reads the field from memory every time
        else:
            ser.nr_devices = value
        return {"which": which, "field": field, "value": value}
    if slot is None:
        dev = k.dev(bdf)
        slot = dev.outgoing if which == "outgoing" else dev.incoming
        if slot is None:
            raise BadInput(f"{dev.name} has no {which} entry", field="corrupt")
    cur = {i: (d, b, r) for i, d, b, r in ser.entries()}.get(slot, (0, 0, 0))
    d, b, r = cur
    if field == "refcount":
        r = value & 0xFFFF
    elif field == "domain":
        d = value & 0xFFFFFFFF
    else:
        b = value & 0xFFFF
    if getattr(ser, "max_nr", None) is not None and not 0 <= slot < ser.max_nr:
        raise BadInput(f"slot {slot} is outside the {which} struct pci_ser "
                       f"({ser.max_nr} slots)", field="corrupt")
    ser.set_entry(slot, d, b, r)
    return {"which": which, "field": field, "slot": slot, "value": value}


def reboot(k) -> dict:
    """A normal reboot/poweroff began: device_shutdown() without kexec_in_progress."""
    from .shutdown import device_shutdown
    start = len(k.log)
    device_shutdown(k, kexec_in_progress=False)
    if k.phase == "running":
        k.phase = "frozen"
    return {"messages": k.log.lines(start)}


def is_outgoing(k, bdf) -> dict:
    dev = k.dev(bdf)
    if not lu._has(k, 11):
        raise KernelRefusal("ENOSYS", f"pci_liveupdate_is_outgoing() arrives in v6 patch 11 "
                            f"(profile {k.profile.name})", bdf=dev.name)
    start = len(k.log)
    value = lu.pci_liveupdate_is_outgoing(k, dev)
    return {"bdf": dev.name, "value": value, "messages": k.log.lines(start)}


def restore_state(k, bdf) -> dict:
    """pci_restore_state(): the saved config space comes back (not modelled) and
    pci_enable_acs() runs again (ACS Control re-imposed on was_preserved devices)."""
    from .acs import pci_enable_acs
    dev = k.dev(bdf)
    start = len(k.log)
    pci_enable_acs(k, dev)
    return {"bdf": dev.name, "messages": k.log.lines(start)}


def rebind(k, bdf) -> dict:
    """Driver unbind + bind: pci_dma_configure() calls pci_enable_acs() again."""
    return restore_state(k, bdf)


def register_flb(k, mode: str) -> dict:
    """pci_liveupdate_register_flb() (pr_debug, then liveupdate_register_flb())."""
    start = len(k.log)
    if mode == "config-n":
        # include/linux/pci_liveupdate.h stub when CONFIG_PCI_LIVEUPDATE=n
        err = -_errno.EOPNOTSUPP
        fh = k.vfio
    else:
        fh, flb = k.vfio, k.pci_flb
        if mode in ("other-handler", "same-compatible", "table-full"):
            fh = FileHandler(f"pcilu-fault-{len(k.luo.handlers)}", k.vfio.ops)
            k.luo.register_file_handler(fh)
        if mode == "same-compatible":
            flb = Flb(k.pci_flb.compatible, lu.PciFlbOps(k))
        if mode == "table-full":
            while len(k.luo.flbs) < LUO_FLB_MAX:
                k.luo.flbs.append(Flb(f"pcilu-filler-{len(k.luo.flbs)}", None))
            flb = Flb(k.pci_flb.compatible, lu.PciFlbOps(k))   # also a duplicate name
        k.log.add(DEBUG, k.profile.pr_fmt + f'Registering file handler "{fh.compatible}"')
        err = k.luo.liveupdate_register_flb(fh, flb)
    if err:
        raise KernelRefusal(errno_name(err), f"liveupdate_register_flb() failed ({mode})",
                            bdf=None)
    return {"handler": fh.compatible, "messages": k.log.lines(start)}


__all__ = ["set_driver_fault", "preserve_file_without_device", "pci_preserve_direct",
           "corrupt", "reboot", "is_outgoing", "restore_state", "rebind", "register_flb",
           "DRIVER_FAULTS", "REGISTER_MODES", "CORRUPT_FIELDS", "NO_DEVICE_KEY"]
