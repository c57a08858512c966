# SPDX-License-Identifier: GPL-2.0-only
"""FABRIC as the commands take it (``init``, ``plan``, ``fabric show``, ``kexec --fabric``):
a file of any fabric format, a state file, or ``-`` — and a refusal naming what the file is
when it is no fabric. Without click: ``init`` runs on the fast path (cli/fastpath.py)."""
from __future__ import annotations


def load_fabric(path):
    """A fabric from FABRIC as the commands accept it: YAML, lspci dump, sysfs snapshot,
    serialized fabric, or a pcilu state file (its fabric as that generation left it);
    ``-`` reads standard input."""
    return load_fabric_with_machine(path)[0]


def load_fabric_with_machine(path):
    """(fabric, the state's Machine or None): a state file also brings its generation, whose
    Live Update path ``fabric show`` marks."""
    from pcilu_cli.api.machine import load_fabric_and_state
    from pcilu_cli.cli.context import warn
    if path != "-":
        try:
            with open(path, "rb") as f:
                head = f.read(4096)
        except OSError:
            head = b""
        _refuse_non_fabric(head, path)
    fab, m = load_fabric_and_state(path)
    if m is not None:
        return fab, m
    for d in fab.diagnostics:
        warn(d)
    return fab, None


def _refuse_non_fabric(head: bytes, name) -> None:
    """A scenario or a binary blob given where a fabric is expected: say what it is."""
    if not head:
        return
    from pcilu_cli.abi.formats import UNKNOWN, identify, is_binary
    from pcilu_cli.errors import BadInput
    ident = identify(head, str(name))
    if ident.facts.get("text") == "scenario":
        raise BadInput("this is a rehearsal scenario, not a fabric: run it with "
                       f"`pcilu rehearse {name}` (its `fabric:` names the fabric)", file=name)
    if ident.kind in _BLOB_KINDS or ident.kind == UNKNOWN and is_binary(head):
        what = ident.title if ident.kind != UNKNOWN else f"{len(head)}+ bytes of no known format"
        raise BadInput(f"this is binary data ({what}), not a fabric (a YAML fabric, "
                       "`lspci -xxxx` dump, sysfs snapshot, capture or serialized fabric); "
                       "`pcilu inspect` decodes blobs", file=name)


# what the format table recognises that is a hand-over blob, never a fabric
_BLOB_KINDS = frozenset({"fdt", "luo_flb_page", "kho_kexec_metadata", "pci_ser_u64", "pci_ser"})
