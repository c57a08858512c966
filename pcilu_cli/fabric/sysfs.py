# SPDX-License-Identifier: GPL-2.0-only
"""Import a sysfs snapshot: `<root>/sys/bus/pci/devices/*/config` (pci-fabric.md §4).

Accepts a live or copied root (a directory holding ``sys/bus/pci/devices``, or one level
above it such as an extracted hwloc tarball), a directory of ``DDDD:BB:DD.F`` device
directories, or a tar archive of either (read member by member in memory, never extracted:
``config`` at most 4096 bytes, a member-count cap; errors name the archive and the member).  The bus
registers in ``config`` decide the topology; the sysfs directory nesting (the symlink
target) is only a cross-check, reported as a Diagnostic when it disagrees.  Unprivileged
copies hold 64-byte ``config`` files: what is there is imported and a Diagnostic says what is
missing.  VFs (entries with a ``physfn`` link) are not imported as physical functions: they
are generated from their PF's SR-IOV registers when those are present.

API:
    load_sysfs(root) -> Fabric
    read_archive_members(archive, want) -> (files, links, dirs)   the in-memory tar walk
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: keep start-up light
    from pcilu_cli.fabric import model

import os
import re
import tarfile
from pathlib import Path

from pcilu_cli.errors import BadInput, Diagnostic
from pcilu_cli.abi.bdf import parse_bdf
from pcilu_cli.fabric.config import visible_size
from pcilu_cli.fabric.importer import RawFunction, fabric_from_raw

_BDF_NAME = re.compile(r"^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")


# Archive limits. A sysfs ``config`` file is at most 4096 bytes (PCIe extended config space);
# members are read one at a time into memory and never written to disk, so a process killed
# mid-read leaves nothing behind. The member count and the bytes the reader passes over are
# capped so that a small compressed archive cannot make it run for minutes.
CONFIG_MAX = 4096
MAX_MEMBERS = 1 << 20
PASS_OVER_FIXED = 64 << 20            # bytes of member data read past, plus 64 x the archive
PASS_OVER_PER_BYTE = 64


def load_sysfs(root) -> "model.Fabric":
    root = Path(root)
    if root.is_file():
        if not tarfile.is_tarfile(root):
            raise BadInput("not a directory or tar archive of a sysfs snapshot", file=str(root))
        fab = _load_archive(root)
        fab.source = {"kind": "sysfs", "file": str(root)}
        return fab
    if not root.is_dir():
        raise BadInput("no such directory", file=str(root))
    return _load_dir(root, str(root))


def read_archive_members(archive: Path, want, *, max_size: int = CONFIG_MAX):
    """Walk a tar archive member by member, in memory: ``want(name)`` says which regular
    files to read (each refused beyond ``max_size`` bytes, naming archive and member).
    Returns ``(files, links, dirs)``: ``{name: bytes}``, ``{name: link target}`` for
    symlinks, and the set of directory names (names without a trailing ``/``)."""
    label = str(archive)
    files, links, dirs = {}, {}, set()
    try:
        budget = PASS_OVER_FIXED + PASS_OVER_PER_BYTE * archive.stat().st_size
        with tarfile.open(archive) as tf:
            count = passed = 0
            while True:
                m = tf.next()
                tf.members = []               # keep no TarInfo list: one member at a time
                if m is None:
                    break
                count += 1
                if count > MAX_MEMBERS:
                    raise BadInput(f"more than {MAX_MEMBERS} members", file=label,
                                   field=m.name)
                name = m.name.rstrip("/")
                if m.issym():
                    links[name] = m.linkname
                elif m.isdir():
                    dirs.add(name)
                elif m.isfile():
                    passed += m.size
                    if passed > budget:
                        raise BadInput(f"members hold more than {budget} bytes (64 x the "
                                       "archive's size): not a sysfs snapshot", file=label,
                                       field=m.name)
                    if want(name):
                        if m.size > max_size:
                            raise BadInput(f"{m.size} bytes, more than the {max_size} a "
                                           "sysfs config file can hold",
                                           file=f"{label}/{m.name}", field="size")
                        f = tf.extractfile(m)
                        files[name] = f.read(max_size + 1) if f is not None else b""
    except BadInput:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError) as e:
        raise BadInput(f"cannot read tar archive: {e}", file=label) from None
    except Exception as e:  # noqa: BLE001 - zlib/bz2/lzma errors of a damaged stream
        raise BadInput(f"cannot read tar archive: {type(e).__name__}: {e}",
                       file=label) from None
    return files, links, dirs


def _resolve(name: str, links: dict, limit: int = 40) -> str:
    """``name`` inside the archive with symlinks of it and of its parents followed (at most
    ``limit`` links; archive-relative, never above the archive's top)."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    out: list[str] = []
    hops = 0
    while parts:
        p = parts.pop(0)
        if p == "..":
            if out:
                out.pop()
            continue
        cur = "/".join(out + [p])
        target = links.get(cur)
        if target is not None:
            hops += 1
            if hops > limit:
                return cur
            tparts = [x for x in target.split("/") if x not in ("", ".")]
            if target.startswith("/"):
                out = []
            parts = tparts + parts
            continue
        out.append(p)
    return "/".join(out)


def _load_archive(archive: Path):
    """A sysfs snapshot inside a tar archive, read in memory (see read_archive_members)."""
    label = str(archive)
    files, links, dirs = read_archive_members(
        archive, lambda n: n.endswith("/config") and bool(_BDF_NAME.match(n.split("/")[-2]))
        if n.count("/") else False)
    # where the device entries are: .../sys/bus/pci/devices/, bus/pci/devices/, or BDF dirs
    entries: dict[str, str] = {}          # BDF -> archive name of its entry
    names = set(links) | dirs | {n.rsplit("/", 1)[0] for n in files}
    for n in sorted(names):
        head, _, last = n.rpartition("/")
        if _BDF_NAME.match(last) and (head.endswith("bus/pci/devices")):
            entries.setdefault(last, n)
    if not entries:
        for n in sorted(names):
            head, _, last = n.rpartition("/")
            if _BDF_NAME.match(last) and not _BDF_NAME.match(head.rpartition("/")[2]):
                entries.setdefault(last, n)
    if not entries:
        raise BadInput("no sys/bus/pci/devices (or DDDD:BB:DD.F directories) in the archive",
                       file=label)
    raws, vfs = [], []
    for bdf in sorted(entries):
        entry = entries[bdf]
        real = _resolve(entry, links)
        if f"{real}/physfn" in links or f"{real}/physfn" in dirs:
            vfs.append(bdf)
            continue
        shown = f"{label}/{entry}/config"
        data = files.get(f"{real}/config")
        if data is None:
            data = files.get(f"{entry}/config")
        if data is None:
            raise BadInput("no config file for this device in the archive", file=shown,
                           field=bdf)
        parent = None
        if entry in links:
            up = real.rpartition("/")[0].rpartition("/")[2]
            parent = up if _BDF_NAME.match(up) else ""
        raws.append(_raw_function(bdf, data, shown, parent))
    return _fabric(raws, vfs, label, str(archive))


def _raw_function(bdf: str, data: bytes, shown: str, parent):
    dom, bus, devfn = parse_bdf(bdf)
    if len(data) > CONFIG_MAX:
        raise BadInput(f"config file has more than {CONFIG_MAX} bytes", file=shown, field=bdf)
    if len(data) < 64:
        raise BadInput(f"config file has {len(data)} bytes (at least 64 expected)",
                       file=shown, field=bdf)
    n = visible_size(len(data))
    data = data[:n] + bytes(n - min(len(data), n))
    return RawFunction(dom, bus, devfn, data, shown, None, parent)


def _fabric(raws, vfs, label: str, where_none: str):
    if not raws:
        raise BadInput("no PCI functions found", file=where_none)
    fab = fabric_from_raw(raws, label, Path(label).name or "sysfs",
                          {"kind": "sysfs", "file": label})
    if vfs:
        fab.diagnostics.append(Diagnostic(f"{len(vfs)} VF entries ({vfs[0]}...) are not "
                                          "imported as functions: VFs are generated from "
                                          "their PF's SR-IOV registers", file=label))
    return fab


def _devices_dir(root: Path) -> Path | None:
    for cand in (root / "sys/bus/pci/devices", root / "bus/pci/devices"):
        if cand.is_dir():
            return cand
    for sub in sorted(root.iterdir()) if root.is_dir() else ():
        cand = sub / "sys/bus/pci/devices"
        if cand.is_dir():
            return cand
    if any(_BDF_NAME.match(p.name) for p in root.iterdir()):
        return root
    return None


def _load_dir(root: Path, label: str):
    devdir = _devices_dir(root)
    if devdir is None:
        raise BadInput("no sys/bus/pci/devices (or DDDD:BB:DD.F directories) below it",
                       file=label)
    raws, vfs = [], []
    for entry in sorted(devdir.iterdir(), key=lambda p: p.name):
        if not _BDF_NAME.match(entry.name):
            continue
        cfgp = entry / "config"
        shown = f"{label}/{os.path.relpath(cfgp, root)}" if label else str(cfgp)
        if (entry / "physfn").exists() or (entry / "physfn").is_symlink():
            vfs.append(entry.name)
            continue
        try:
            with open(cfgp, "rb") as f:
                data = f.read(CONFIG_MAX + 1)
        except OSError as e:
            raise BadInput(f"cannot read config: {e.strerror or e}", file=shown,
                           field=entry.name) from None
        # sysfs nesting: a BDF parent, "" for "directly below a host bridge", None = unknown
        parent = None
        if entry.is_symlink():
            real = Path(os.path.realpath(entry))
            parent = real.parent.name if _BDF_NAME.match(real.parent.name) else ""
        raws.append(_raw_function(entry.name, data, shown, parent))
    return _fabric(raws, vfs, label, str(devdir))
