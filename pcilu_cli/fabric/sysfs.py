# SPDX-License-Identifier: GPL-2.0-only
"""Import a sysfs snapshot: `<root>/sys/bus/pci/devices/*/config` (pci-fabric.md §4).

Accepts a live or copied root (a directory holding ``sys/bus/pci/devices``, or one level
above it such as an extracted hwloc tarball), a directory of ``DDDD:BB:DD.F`` device
directories, or a tar archive of either (read via a temporary extraction).  The bus
registers in ``config`` decide the topology; the sysfs directory nesting (the symlink
target) is only a cross-check, reported as a Diagnostic when it disagrees.  Unprivileged
copies hold 64-byte ``config`` files: what is there is imported and a Diagnostic says what is
missing.  VFs (entries with a ``physfn`` link) are not imported as physical functions: they
are generated from their PF's SR-IOV registers when those are present.

API:
    load_sysfs(root) -> Fabric
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: keep start-up light
    from pcilu_cli.fabric import model

import os
import re
import tarfile
import tempfile
from pathlib import Path

from pcilu_cli.errors import BadInput, Diagnostic
from pcilu_cli.fabric import parse_bdf
from pcilu_cli.fabric.config import visible_size
from pcilu_cli.fabric.importer import RawFunction, fabric_from_raw

_BDF_NAME = re.compile(r"^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")


def load_sysfs(root) -> "model.Fabric":
    root = Path(root)
    if root.is_file():
        if not tarfile.is_tarfile(root):
            raise BadInput("not a directory or tar archive of a sysfs snapshot", file=str(root))
        with tempfile.TemporaryDirectory(prefix="pcilu-sysfs-") as tmp:
            _extract(root, Path(tmp))
            fab = _load_dir(Path(tmp), str(root))
            fab.source = {"kind": "sysfs", "file": str(root)}
            return fab
    if not root.is_dir():
        raise BadInput("no such directory", file=str(root))
    return _load_dir(root, str(root))


def _extract(archive: Path, dest: Path) -> None:
    try:
        with tarfile.open(archive) as tf:
            members = [m for m in tf.getmembers()
                       if ("/sys/bus/pci/" in f"/{m.name}" or "/sys/devices/" in f"/{m.name}")
                       and (m.isfile() or m.isdir() or m.issym())]
            try:
                tf.extractall(dest, members=members, filter="data")
            except TypeError:  # Python without extraction filters
                safe = [m for m in members if not m.name.startswith(("/", ".."))
                        and ".." not in Path(m.name).parts]
                tf.extractall(dest, members=safe)  # noqa: S202 - names checked above
    except (tarfile.TarError, OSError) as e:
        raise BadInput(f"cannot read tar archive: {e}", file=str(archive)) from None


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
    raws, diags, vfs = [], [], []
    for entry in sorted(devdir.iterdir(), key=lambda p: p.name):
        if not _BDF_NAME.match(entry.name):
            continue
        dom, bus, devfn = parse_bdf(entry.name)
        cfgp = entry / "config"
        shown = f"{label}/{os.path.relpath(cfgp, root)}" if label else str(cfgp)
        if (entry / "physfn").exists() or (entry / "physfn").is_symlink():
            vfs.append(entry.name)
            continue
        try:
            data = cfgp.read_bytes()
        except OSError as e:
            raise BadInput(f"cannot read config: {e.strerror or e}", file=shown,
                           field=entry.name) from None
        if len(data) < 64:
            raise BadInput(f"config file has {len(data)} bytes (at least 64 expected)",
                           file=shown, field=entry.name)
        n = visible_size(len(data))
        data = data[:n] + bytes(n - min(len(data), n))
        # sysfs nesting: a BDF parent, "" for "directly below a host bridge", None = unknown
        parent = None
        if entry.is_symlink():
            real = Path(os.path.realpath(entry))
            parent = real.parent.name if _BDF_NAME.match(real.parent.name) else ""
        raws.append(RawFunction(dom, bus, devfn, data, shown, None, parent))
    if not raws:
        raise BadInput("no PCI functions found", file=str(devdir))
    fab = fabric_from_raw(raws, label, Path(label).name or "sysfs",
                          {"kind": "sysfs", "file": label})
    if vfs:
        diags.append(Diagnostic(f"{len(vfs)} VF entries ({vfs[0]}...) are not imported as "
                                "functions: VFs are generated from their PF's SR-IOV "
                                "registers", file=label))
    fab.diagnostics.extend(diags)
    return fab
