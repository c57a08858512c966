# SPDX-License-Identifier: GPL-2.0-only
"""The generation state file: load, validate, save (atomic, locked), and its ``inspect`` view.

``load(path)`` / ``save(machine, path)`` for one-shot reads and ``-o`` outputs;
``transaction(path)`` for read-modify-write commands (``preserve``, ``finish`` …), which holds
the sidecar lock from read to replace so that concurrent CI jobs never lose an update.
"""
from __future__ import annotations

from contextlib import contextmanager

from pcilu_cli.state.machine import Machine  # noqa: F401


def load(path: str) -> "Machine":
    from pcilu_cli.state.store import read_input
    name = "<stdin>" if path == "-" else str(path)
    return Machine.from_bytes(read_input(path), file=name)


def save(machine: "Machine", path: str) -> None:
    from pcilu_cli.state.store import atomic_write
    atomic_write(path, machine.to_bytes())


@contextmanager
def transaction(path: str, *, wait: float = 30.0):
    """Lock ``path``, load it, yield the Machine; on normal exit save it atomically.

    If the body raises, nothing is written — except a KernelPanic, which the kernel itself
    would survive only as a recorded panic: the panicked state is saved, then re-raised.
    """
    from pcilu_cli.errors import KernelPanic
    from pcilu_cli.state.store import StateStore
    with StateStore(path, wait=wait).transaction(must_exist=True) as tx:
        m = Machine.from_bytes(tx.read(), file=str(path))
        try:
            yield m
        except KernelPanic:
            tx.write(m.to_bytes())
            raise
        tx.write(m.to_bytes())


def inspect_state(mem, notes: dict, file, *, profile=None) -> dict:
    """``inspect`` of a state file: metadata, the hand-over in memory, the PCI FLB blobs."""
    from pcilu_cli.memory.handover import read_handover
    from pcilu_cli.state.machine import load_metadata
    meta = load_metadata(notes, file)
    doc = {"kind": "state", "generation": meta.get("generation"),
           "profile": meta.get("profile"), "phase": meta.get("phase"),
           "panic": meta.get("panic"), "pcilu": meta.get("pcilu"),
           "format": meta.get("format"), "fabric": meta.get("fabric"),
           "kho_in": meta.get("kho_in"), "warnings": []}
    out = meta.get("kho_out")
    doc["outgoing"] = None
    if out is not None and out.get("finalized"):
        doc["outgoing"] = read_handover(mem, out["root_pa"], file=file, profile=profile)
        doc["warnings"] += doc["outgoing"].pop("warnings", [])
    elif out is not None:
        doc["outgoing"] = {"kind": "kho_out", "root_pa": out["root_pa"],
                           "finalized": False,
                           "note": "KHO/LUO not serialized yet (that happens at kexec)"}
    m = Machine.from_parts(mem, notes, file=file)
    if m.kernel is not None:
        k = m.kernel
        blobs = {}
        for which in ("outgoing", "incoming"):
            d = pci_ser_json(k, which, file=file)
            if d is not None:
                blobs[which] = d
        doc["pci_ser"] = blobs
        doc["messages"] = k.log.lines()
    return doc


def pci_ser_json(kernel, which: str, *, file=None) -> dict | None:
    """The kernel's ``which`` ("outgoing"/"incoming") ``struct pci_ser`` decoded as
    ``inspect`` shows it (plus its ``pa``), or None if the kernel holds none.

    Block eras: the device entries live in the kho_block chain the kernel holds; they are
    handed to ``decode_pci_ser`` as ``entries_from`` (slot = index along the chain).
    """
    from pcilu_cli.abi import pci
    if which == "outgoing":
        ser = kernel.pci_flb.out_obj
    else:
        inc = kernel.pci_flb.in_obj
        ser = None if inc is None else inc.ser
    if ser is None:
        return None
    entries_from = None
    if kernel.profile.pci_layout != pci.FLEX:
        entries = ser.entries()
        entries_from = lambda _pa: entries     # noqa: E731 - the chain is already in hand
    d = pci.pci_ser_to_json(pci.decode_pci_ser(bytes(ser.blob), kernel.profile, file=file,
                                               entries_from=entries_from))
    d["pa"] = ser.pa
    return d
