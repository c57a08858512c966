# SPDX-License-Identifier: GPL-2.0-only
"""The generation state file: load, validate, save (atomic, locked), and its ``inspect`` view.

``load(path)`` / ``save(machine, path)`` for one-shot reads and ``-o`` outputs;
``transaction(path)`` for read-modify-write commands (``preserve``, ``finish`` …), which holds
the sidecar lock from read to replace so that concurrent CI jobs never lose an update.
"""
from __future__ import annotations

from contextlib import contextmanager
TYPE_CHECKING = False      # (typing.TYPE_CHECKING, without importing typing at every start)

if TYPE_CHECKING:                          # the real import is on first use (below)
    from pcilu_cli.state.machine import Machine


def __getattr__(name):
    """``Machine`` (and the model below it) is imported on first use: a command that only
    reads a file through the store (``inspect`` of a blob) does not load the simulator."""
    if name == "Machine":
        from pcilu_cli.state.machine import Machine
        return Machine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load(path: str) -> "Machine":
    from pcilu_cli.state.machine import Machine
    from pcilu_cli.state.store import read_input
    name = "<stdin>" if path == "-" else str(path)
    return Machine.from_bytes(read_input(path), file=name)


def save(machine: "Machine", path: str, *, report_json=None) -> None:
    """Write ``machine`` to ``path`` atomically; ``report_json``: see ``Machine.to_bytes``."""
    from pcilu_cli.state.store import atomic_write
    atomic_write(path, machine.to_parts(report_json=report_json))


@contextmanager
def transaction(path: str, *, wait: float = 30.0):
    """Lock ``path``, load it, yield the Machine; on normal exit save it atomically.

    If the body raises, nothing is written — except a KernelPanic, which the kernel itself
    would survive only as a recorded panic: the panicked state is saved, then re-raised.
    """
    from pcilu_cli.errors import KernelPanic
    from pcilu_cli.state.machine import Machine
    from pcilu_cli.state.store import StateStore
    _check_is_state(path)        # before the lock: no STATE.lock beside a file that is not one
    with StateStore(path, wait=wait).transaction(must_exist=True) as tx:
        m = Machine.from_bytes(tx.read(), file=str(path))
        try:
            yield m
        except KernelPanic:
            tx.write(m.to_parts())
            raise
        tx.write(m.to_parts())


def _check_is_state(path) -> None:
    """A read-modify-write command is refused before a lock file is created when PATH is
    not a state file (no ELF header): the message says what the file is."""
    from pcilu_cli.abi.formats import identify_head
    from pcilu_cli.errors import BadInput
    try:
        ident = identify_head(path)
    except IsADirectoryError:
        raise BadInput("is a directory, not a state file (create one with `pcilu init`)",
                       file=path) from None
    except OSError:
        return                   # missing / unreadable: the store's own check says so
    if ident.kind != "elf":
        raise BadInput(f"not a pcilu state file: this is {ident.describe()} (create a state "
                       "file with `pcilu init FABRIC -o STATE`)", file=path, offset=0,
                       field="e_ident")


def inspect_state(mem, notes: dict, file, *, profile=None, size=None) -> dict:
    """``inspect`` of a state file (of ``size`` bytes): metadata, the hand-over in memory, the
    PCI FLB blobs."""
    from pcilu_cli.memory.handover import read_handover
    from pcilu_cli.state.machine import Machine, load_metadata
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
    m = Machine.from_parts(mem, notes, file=file, size=size)
    m.check_kernel_note()            # a decoder reports a damaged file even where it is lazy
    # the documented keys are always there: null when the kernel holds no such blob
    doc["pci_ser"] = {"outgoing": None, "incoming": None}
    doc["messages"] = []
    if m.kernel is not None:
        k = m.kernel
        for which in ("outgoing", "incoming"):
            doc["pci_ser"][which] = pci_ser_json(k, which, file=file)
        doc["messages"] = k.log.lines()
    return doc


def pci_ser_json(kernel, which: str, *, file=None) -> dict | None:
    """The kernel's ``which`` ("outgoing"/"incoming") ``struct pci_ser`` decoded as
    ``inspect`` shows it (plus its ``pa``), or None if the kernel holds none.

    Block eras: the device entries live in the kho_block chain the kernel holds; they are
    handed to ``decode_pci_ser`` as ``entries_from`` (slot = index along the chain).
    """
    from pcilu_cli.abi import pci
    ser = kernel.pci_ser_obj(which)
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
