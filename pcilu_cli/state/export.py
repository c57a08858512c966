# SPDX-License-Identifier: GPL-2.0-only
"""The export view of a generation: the files ``pcilu export STATE -o DIR`` writes.

:func:`export_files` yields ``(relative path, data)`` in a fixed order — ``data`` is bytes, or
for the large files (lspci.txt, state.json) an iterator of byte chunks, so that an export of
65,536 functions (~890 MB of lspci text) streams instead of being built in memory;
:func:`write_export` writes them under a directory (each file atomically) and returns the
relative paths.

    lspci.txt                       config space, readable by ``lspci -F``
    kho/fdt, kho/sub_fdts/<name>    the outgoing KHO tree as debugfs shows it (``kho/out/``)
    kho/in/fdt, kho/in/sub_fdts/*   the incoming one (``kho/in/``), when memory still holds it
    flb/<compatible>.bin            the outgoing ``struct pci_ser`` as the kernel holds it
    flb/incoming/<compatible>.bin   the incoming one
    state.json                      metadata and the enumerate report

A sub-FDT is exported when its pages are in memory: its length is the root's ``blob-size``
(KHO gen C+) or, for gen A (no ``blob-size``), the sub-FDT's own ``totalsize``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator

from pcilu_cli.abi.untrusted import file_component
from pcilu_cli.errors import BadInput
from pcilu_cli.memory import fdt as fdtmod
from pcilu_cli.memory.physmem import PAGE_SIZE


def kho_tree_files(mem, root_pa: int, prefix: str) -> Iterator[tuple[str, bytes]]:
    """The KHO root FDT at ``root_pa`` and every sub-FDT it names that memory holds."""
    root = fdtmod.fdt_at(mem, root_pa, limit=PAGE_SIZE)
    yield f"{prefix}/fdt", root
    try:
        parsed = fdtmod.read_kho_root_fdt(root)
    except BadInput:
        return
    for name, pa, blob_size in parsed.subtrees:
        if not pa or not mem.present(pa, 8):
            continue
        n = fdtmod.fdt_totalsize(mem.read(pa, 8)) if blob_size is None else blob_size
        if mem.present(pa, n):
            # the node name comes from the file: one safe component, never a path
            yield f"{prefix}/sub_fdts/{file_component(name)}", mem.read(pa, n)


def export_files(m) -> Iterator[tuple[str, bytes]]:
    """Every file of the export view of Machine ``m``, in the order they are written."""
    from pcilu_cli.fabric.lspci import iter_dump
    yield "lspci.txt", (chunk.encode() for chunk in iter_dump(m.fabric))
    if m.hout is not None:
        yield from kho_tree_files(m.mem, m.hout.root_pa, "kho")
    root_in = (m.kho_in or {}).get("root_pa")
    if root_in and m.mem.present(root_in, 8):
        yield from kho_tree_files(m.mem, root_in, "kho/in")
    k = m.kernel
    if k is not None:
        out, inc = k.outgoing_blob(), k.incoming_blob()
        compat = file_component(k.profile.pci_compatible)
        if out is not None:
            yield f"flb/{compat}.bin", out
        if inc is not None:
            yield f"flb/incoming/{compat}.bin", inc
    yield "state.json", _json_chunks({"metadata": m.metadata(), "report": m.report()})


def _json_chunks(doc, size: int = 1 << 20) -> Iterator[bytes]:
    """``json.dumps(doc, indent=1) + "\\n"`` as UTF-8 chunks of about ``size`` bytes."""
    buf, n = [], 0
    for piece in json.JSONEncoder(indent=1).iterencode(doc):
        buf.append(piece)
        n += len(piece)
        if n >= size:
            yield "".join(buf).encode()
            buf, n = [], 0
    buf.append("\n")
    yield "".join(buf).encode()


# what an export leaves in DIR besides the view: the list of files it wrote, so that the next
# export into the same DIR replaces exactly those (no stale kho/in/ of an older generation)
MANIFEST = ".pcilu-export"


def _inside(root_real: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _owned(outdir: str) -> list[str] | None:
    """The files a previous export listed in DIR's manifest; None if DIR has no manifest."""
    mpath = os.path.join(outdir, MANIFEST)
    try:
        with open(mpath, "rb") as f:
            raw = f.read(1 << 20)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise BadInput(f"cannot read: {e.strerror or e}", file=mpath) from None
    try:
        doc = json.loads(raw)
        files = [str(x) for x in doc["files"]]
    except (ValueError, KeyError, TypeError):
        raise BadInput("not a pcilu export manifest", file=mpath) from None
    return files


def prepare_export_dir(outdir: str) -> list[str]:
    """Check DIR before anything is written; return the files a previous export owns there.

    DIR may be missing, empty, or hold a previous export (its manifest): the files that export
    wrote are replaced, anything else in DIR is left alone. A non-empty DIR without a manifest,
    or a DIR that is a file, is refused (bad input, exit 3): an export never mixes with
    files it does not own."""
    if os.path.lexists(outdir) and not os.path.isdir(outdir):
        raise BadInput("exists and is not a directory (export writes a directory of files)",
                       file=outdir)
    if not os.path.isdir(outdir):
        return []
    owned = _owned(outdir)
    if owned is not None:
        return owned
    try:
        entries = os.listdir(outdir)
    except OSError as e:
        raise BadInput(f"cannot read: {e.strerror or e}", file=outdir) from None
    if entries:
        what = "1 entry" if len(entries) == 1 else f"{len(entries)} entries"
        raise BadInput(f"directory is not empty ({what}) and holds no earlier pcilu export: "
                       "export into a new or empty directory", file=outdir)
    return []


def write_export(m, outdir: str) -> dict:
    """Write :func:`export_files` under ``outdir``: ``{"files": [{path, bytes}], "removed":
    [paths]}`` (relative paths). Every path is checked to resolve inside ``outdir`` (also
    through symlinks already there); a file a previous export wrote and this one does not
    is removed, so DIR never mixes two generations."""
    from pcilu_cli.state.store import atomic_write
    owned = prepare_export_dir(outdir)
    files = list(export_files(m))
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as e:
        raise BadInput(f"cannot create the directory: {e.strerror or e}", file=outdir) from None
    root_real = os.path.realpath(outdir)
    written = []
    for rel, data in files:
        path = os.path.join(outdir, rel)
        if os.path.isabs(rel) or ".." in rel.split("/") or not _inside(root_real, path):
            raise BadInput(f"{rel!r} would be written outside the export directory",
                           file=outdir, field=rel)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except OSError as e:
            raise BadInput(f"cannot create a directory: {e.strerror or e}",
                           file=os.path.dirname(path)) from None
        if not _inside(root_real, path):      # a symlink in DIR pointing elsewhere
            raise BadInput(f"{rel!r} would be written outside the export directory "
                           "(through a symbolic link)", file=outdir, field=rel)
        size = [0]
        if isinstance(data, (bytes, bytearray)):
            size[0] = len(data)
        else:                               # streamed chunks: counted as they go out
            def counted(chunks, size=size):
                for c in chunks:
                    size[0] += len(c)
                    yield c
            data = counted(data)
        atomic_write(path, data)
        written.append({"path": rel, "bytes": size[0]})
    now = {w["path"] for w in written}
    removed = []
    for rel in owned:
        if rel in now or os.path.isabs(rel) or ".." in rel.split("/"):
            continue
        path = os.path.join(outdir, rel)
        if _inside(root_real, path) and os.path.isfile(path):
            try:
                os.unlink(path)
                removed.append(rel)
            except OSError:
                pass
    manifest = json.dumps({"kind": "pcilu-export", "files": sorted(now)}, indent=1) + "\n"
    atomic_write(os.path.join(outdir, MANIFEST), manifest.encode())
    return {"files": written, "removed": removed}
