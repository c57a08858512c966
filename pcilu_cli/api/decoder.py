# SPDX-License-Identifier: GPL-2.0-only
"""What ``pcilu inspect`` decodes, as one function: bytes in, the JSON document out.

:func:`examine` recognises the input by its first bytes — an ELF image (a pcilu state file or
a real memory dump), a flattened device tree (KHO root FDT, LUO FDT), a LUO FLB page, or a raw
``struct pci_ser`` (layout detected from the bytes unless a profile is given) — and returns
the document with what the CLI needs to draw it for a person. The CLI's ``inspect`` and
:func:`pcilu.inspect` both call it.
"""
from __future__ import annotations

from pcilu_cli.errors import BadInput, Diagnostic


class Examined:
    """What ``examine`` found. (A plain class: ``inspect`` builds one per run, and a dataclass
    would be generated at every start.)"""

    def __init__(self, kind: str, doc: dict, ser: object = None, notice: str | None = None,
                 warnings: list | None = None, tree: object = None):
        self.kind = kind               # "image" | "luo_flb_page" | "pci_ser"
        self.doc = doc
        self.ser = ser                 # the decoded PciSer (kind "pci_ser")
        self.notice = notice           # how the layout was chosen, for people
        self.warnings = [] if warnings is None else warnings     # Diagnostic objects
        self.tree = tree               # a plain device tree's root FdtNode (``fdt_tree=True``)

    def __repr__(self) -> str:
        return (f"Examined(kind={self.kind!r}, doc={self.doc!r}, ser={self.ser!r}, "
                f"notice={self.notice!r}, warnings={self.warnings!r}, tree={self.tree!r})")


def fdt_document(data: bytes, name: str, node=None) -> dict:
    """A standalone FDT: the debugfs ``kho/fdt`` (root), or a LUO FDT from ``sub_fdts/LUO``;
    any other device tree as a whole (``node``: its tree, when already parsed)."""
    from pcilu_cli.memory import fdt as fdtmod
    if node is None:
        node = fdtmod.parse_fdt(data, file=name)
    compat = node.compatible()
    if fdtmod.is_kho_root(node):
        root = fdtmod.read_kho_root_fdt(data, file=name, root=node)
        return {"kind": "kho_root_fdt", "kho_compatible": root.compatible,
                "preserved_memory_map": root.mem_map,
                "subtrees": [{"name": n, "preserved_data": p, "blob_size": s}
                             for n, p, s in root.subtrees],
                "posting": root.posting,
                "note": "a root FDT alone holds only physical addresses; inspect a memory "
                        "image or state file to follow them", "warnings": []}
    if fdtmod.is_luo_fdt(node):
        lf = fdtmod.read_luo_fdt(data, file=name, root=node)
        return {"kind": "luo_fdt", "compatible": "luo-v1", "liveupdate_num": lf.liveupdate_num,
                "session_header_pa": lf.session_header_pa, "flbs_pa": lf.flb_header_pa,
                "warnings": []}
    return {"kind": "fdt", "compatible": compat, "tree": fdtmod.fdt_to_dict(node),
            "warnings": []}


def write_fdt_document(tree, write, dumps) -> None:
    """Write ``dumps(fdt_document(...))`` of a plain device tree (``Examined.tree``) piece by
    piece: the same text, built node by node."""
    from pcilu_cli.memory import fdt as fdtmod
    write('{"kind":"fdt","compatible":' + dumps(tree.compatible()) + ',"tree":')
    fdtmod.write_fdt_json(tree, write, dumps)
    write(',"warnings":[]}\n')


def elf_document(data: bytes, name: str, *, profile=None) -> dict:
    from pcilu_cli.memory.elfcore import pcilu_notes, read_elf_core
    from pcilu_cli.memory.handover import read_handover
    mem, notes = read_elf_core(data, file=name)
    mine = pcilu_notes(notes)
    if mine:
        from pcilu_cli.state import inspect_state
        return inspect_state(mem, mine, name, profile=profile, size=len(data))
    doc = read_handover(mem, None, file=name, profile=profile)
    doc["source"] = "memory dump"
    return doc


def examine(data: bytes, name: str, *, profile=None, stream: bool = False,
            fdt_tree: bool = False) -> Examined:
    """Decode ``data`` (named ``name`` in messages). Raises BadInput (exit 3) for input the
    kernel would refuse, and for a file of no format ``inspect`` decodes (saying what it looks
    like) unless ``profile`` forces a ``struct pci_ser`` layout; warnings the kernel would
    only log are in ``.warnings``. What the file is comes from the one format table
    (:mod:`pcilu_cli.abi.formats`).

    ``stream``: a flex ``pci_ser``'s entries stay in the bytes (``doc`` None) for
    ``pci.write_json``. ``fdt_tree``: a device tree that is not a KHO/LUO one comes back as
    ``.tree`` (``doc`` None), for a caller that writes it node by node — its document would
    hold one dict per node, several times the tree's own size."""
    from pcilu_cli.abi import pci
    from pcilu_cli.abi.detect import _text_kind, flb_page_to_json
    from pcilu_cli.state.files import identify_bytes, refuse
    inp = identify_bytes(data, name)
    kind = inp.kind
    if kind == "fdt" and fdt_tree:
        from pcilu_cli.memory import fdt as fdtmod
        node = fdtmod.parse_fdt(data, file=name)
        if fdtmod.is_plain_tree(node):
            return Examined("fdt", None, tree=node)
        return Examined("image", fdt_document(data, name, node))
    if kind in ("elf", "fdt"):
        doc = fdt_document(data, name) if kind == "fdt" else \
            elf_document(data, name, profile=profile)
        warns = [Diagnostic(w["message"], file=name, field=w.get("field"),
                            kernel_accepts=w.get("kernel_accepts"))
                 for w in doc.get("warnings", [])]
        return Examined("image", doc, warnings=warns)
    if not data:
        raise BadInput("empty file: nothing to decode", file=name)
    if kind == "text":
        raise BadInput(f"a text file ({_text_kind(data)}), not a binary hand-over blob: "
                       "inspect decodes pci_ser blobs, FLB pages, FDTs and ELF images",
                       file=name)
    why = None
    if profile is None:
        if kind == "luo_flb_page":
            return Examined("luo_flb_page", flb_page_to_json(data, name))
        if kind == "kho_kexec_metadata":
            from pcilu_cli.abi.kho import kexec_metadata_to_json
            return Examined("kho_kexec_metadata", kexec_metadata_to_json(data, file=name))
        if kind == "pci_ser_u64":                    # a layout from before v4: decode only
            from pcilu_cli.abi import pre_v6
            return Examined("pci_ser_u64", pre_v6.decode_pci_ser_u64(data, file=name))
        if kind != "pci_ser":
            raise refuse(inp, "a hand-over blob inspect decodes",
                         hint="--profile P decodes it as that profile's struct pci_ser")
        profile = inp.ident.facts["profile"]
        why = f"{name}: no --profile given; {inp.ident.detail}, decoding as {profile}"
    # stream: a flex blob's entries stay in the bytes (``doc`` None) for pci.write_json
    ser = pci.decode_pci_ser(data, profile, file=name, stream=stream)
    for d in ser.diagnostics:
        if not d.kernel_accepts:
            raise d.as_error()
    return Examined("pci_ser", None if ser.body is not None else pci.pci_ser_to_json(ser),
                    ser=ser, notice=why, warnings=list(ser.diagnostics))


def inspect(path_or_bytes, *, profile=None) -> dict:
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data, name = bytes(path_or_bytes), "<bytes>"
    else:
        from pcilu_cli.state.store import read_input
        name = "<stdin>" if str(path_or_bytes) == "-" else str(path_or_bytes)
        data = read_input(str(path_or_bytes))
    return examine(data, name, profile=profile).doc
