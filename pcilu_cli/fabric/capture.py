# SPDX-License-Identifier: GPL-2.0-only
"""A capture: one deterministic ``.tar.gz`` of a live host's PCI facts (``pcilu capture``).

What a capture holds (member names inside the archive, in this order):

    pcilu-capture.json        the manifest (always the FIRST member: that is how a capture is
                              told from any other tar archive) — kind "pcilu_capture", format,
                              release, privileged, notes, per-function facts (driver, IOMMU
                              group, power state, SR-IOV attributes, physfn, sysfs path), and
                              which of the members below are present
    host/cmdline              /proc/cmdline (values of secret-looking parameters redacted)
    host/release              uname -r
    host/config               the running kernel's config (/proc/config.gz inflated, or
                              /boot/config-RELEASE)
    host/log                  the kernel log lines about PCI / KHO / LUO (when readable)
    sys/kernel/debug/kho/...  the KHO debugfs tree (out/, in/) when debugfs is mounted
    sys/bus/pci/devices/BDF   symlinks into sys/devices/..., as in sysfs
    sys/devices/.../BDF/...   config, the small text attributes, and the driver /
                              iommu_group / physfn links of every function

The ``sys/`` part is a sysfs snapshot, so the fabric is read by the existing sysfs-archive
reader (:func:`pcilu_cli.fabric.sysfs.load_sysfs`); this module adds the manifest.

Deterministic: members sorted, mtime 0, uid/gid 0, no user/group names, fixed modes, GNU tar
format, gzip header mtime 0 and no file name: the same host gives the same bytes.

API:
    build_capture(root="/", *, live=True) -> (bytes, manifest)
    is_capture(path) -> bool            asks the format table (abi/formats.py, its
                                        ``pcilu_capture`` row) about the file's first bytes
    load_capture(path) -> Fabric        fabric.source carries the manifest's facts
    read_manifest(path) -> dict
"""
from __future__ import annotations

import gzip
import io
import json
import os
import re
import tarfile
import zlib
from pathlib import Path

from pcilu_cli.abi.bdf import format_bdf, format_host_bridge, pci_devfn
from pcilu_cli.abi.formats import CAPTURE_HEAD, CAPTURE_MANIFEST, identify
from pcilu_cli.errors import BadInput

MANIFEST = CAPTURE_MANIFEST
FORMAT = 1
KIND = "pcilu_capture"

# per-function text attributes copied verbatim (what `lspci -vv`/`-k` shows, nothing more)
ATTRS = ("vendor", "device", "class", "revision", "subsystem_vendor", "subsystem_device",
         "power_state", "driver_override", "numa_node", "sriov_totalvfs", "sriov_numvfs",
         "sriov_offset", "sriov_stride", "sriov_vf_device", "sriov_drivers_autoprobe",
         "current_link_speed", "current_link_width", "ari_enabled")
LINKS = ("driver", "iommu_group", "physfn")
ATTR_MAX = 4096                  # a sysfs attribute is at most one page
CONFIG_MAX = 4096                # PCIe extended config space
TEXT_MAX = 4 << 20               # a kernel config is ~250 KiB; 4 MiB is generous
KHO_MAX = 16 << 20               # whole KHO debugfs tree
MANIFEST_MAX = 16 << 20
LOG_RE = re.compile(r"\b(pci|PCI|kho|KHO|luo|LUO|liveupdate|iommu|DMAR|vfio)\b|pci_bus|"
                    r"KHO:|LUO:|liveupdate")
SECRET_RE = re.compile(r"(pass|secret|key|token|auth|cred)", re.I)
_BDF = re.compile(r"^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")


# ---- writing ------------------------------------------------------------------------------

def _text(fs, rel: str, limit: int = ATTR_MAX) -> str | None:
    data = fs.read(rel, limit)
    if data is None:
        return None
    return data.decode("utf-8", "replace").strip()


def redact_cmdline(cmdline: str) -> str:
    """``/proc/cmdline`` with the value of every secret-looking parameter replaced (a host's
    command line may carry credentials; lspci would show none of it)."""
    out = []
    for word in cmdline.split():
        name, eq, _value = word.partition("=")
        out.append(f"{name}=<redacted>" if eq and SECRET_RE.search(name) else word)
    return " ".join(out)


class _DirFS:
    """Paths relative to a root directory (``/`` for the live host)."""

    def __init__(self, root):
        self.root = Path(root)

    def _p(self, rel: str) -> Path:
        return self.root / rel if rel else self.root

    def isdir(self, rel):
        return self._p(rel).is_dir()

    def listdir(self, rel):
        try:
            return sorted(p.name for p in self._p(rel).iterdir())
        except OSError:
            return []

    def islink(self, rel):
        return self._p(rel).is_symlink()

    def readlink(self, rel):
        return os.readlink(self._p(rel))

    def realpath(self, rel):
        """The path, links resolved, relative to the root (None when it leaves the root)."""
        real = Path(os.path.realpath(self._p(rel)))
        try:
            return real.relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return None

    def read(self, rel, limit):
        try:
            with open(self._p(rel), "rb") as fh:
                return fh.read(limit + 1)[:limit]
        except OSError:
            return None

    def files_below(self, rel):
        """Regular files below ``rel`` (links not followed), relative to it, sorted."""
        base = self._p(rel)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for fn in sorted(filenames):
                p = Path(dirpath) / fn
                if not p.is_symlink():
                    yield p.relative_to(base).as_posix()


class _TarFS:
    """The same view of a tar archive of a copied tree, held in memory (no extraction):
    regular files, symlinks and directories by normalised name below ``top``."""

    def __init__(self, members: dict):
        self.m = members              # name -> ("file", bytes) | ("link", target) | ("dir",)
        self.children: dict = {}
        for name in members:
            parts = name.split("/")
            for i in range(len(parts)):
                self.children.setdefault("/".join(parts[:i]), set()).add(parts[i])

    def isdir(self, rel):
        r = self.realpath(rel)
        return r is not None and (r == "" or r in self.children)

    def listdir(self, rel):
        r = self.realpath(rel)
        return sorted(self.children.get(r, ())) if r is not None else []

    def islink(self, rel):
        return self.m.get(rel, ("",))[0] == "link"

    def readlink(self, rel):
        return self.m[rel][1]

    def realpath(self, rel, depth=0):
        if depth > 40:
            return None
        out = []
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        for i, part in enumerate(parts):
            if part == "..":
                if not out:
                    return None
                out.pop()
                continue
            cur = "/".join(out + [part])
            ent = self.m.get(cur)
            if ent is not None and ent[0] == "link":
                target = ent[1]
                if target.startswith("/"):
                    return None
                base = "/".join(out)
                joined = f"{base}/{target}" if base else target
                res = self.realpath(joined, depth + 1)
                if res is None:
                    return None
                out = res.split("/") if res else []
            else:
                out.append(part)
        return "/".join(out)

    def read(self, rel, limit):
        r = self.realpath(rel)
        ent = self.m.get(r) if r is not None else None
        if ent is None or ent[0] != "file":
            return None
        return ent[1][:limit]

    def files_below(self, rel):
        pre = rel.rstrip("/") + "/"
        for name in sorted(self.m):
            if name.startswith(pre) and self.m[name][0] == "file":
                yield name[len(pre):]


def _kernel_config(fs, release: str | None) -> tuple[str | None, str | None, str | None]:
    """The running kernel's config text, where it came from, and why /proc/config.gz was not
    used when it is there but unusable.

    A config cut short would read as options that are "not set" (CONFIG_PCI_LIVEUPDATE among
    them), which is worse than none: a gzip stream that does not end inside the
    ``TEXT_MAX`` bytes read, that inflates to more than ``TEXT_MAX`` or is not gzip at all is
    not kept, and the config of ``/boot`` is taken instead when there is one."""
    why = None
    gz = fs.read("proc/config.gz", TEXT_MAX + 1)
    if gz:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            text = d.decompress(gz[:TEXT_MAX], TEXT_MAX + 1)
        except zlib.error as e:
            why = f"/proc/config.gz is not gzip data ({e})"
        else:
            if len(gz) > TEXT_MAX or len(text) > TEXT_MAX:
                why = f"/proc/config.gz holds more than {TEXT_MAX} bytes"
            elif not d.eof:
                why = f"/proc/config.gz is cut short ({len(gz)} bytes, the stream does not end)"
            else:
                return text.decode("utf-8", "replace"), "/proc/config.gz", None
    if release:
        txt = _text(fs, f"boot/config-{release}", TEXT_MAX)
        if txt is not None:
            return txt + "\n", f"/boot/config-{release}", why
    return None, None, why


def _kernel_log(live: bool) -> tuple[list[str] | None, str]:
    """PCI/KHO/LUO lines of the kernel log: /dev/kmsg (records after the last boot), without
    sequence numbers; None when the log is not readable (dmesg_restrict, no privileges)."""
    if not live:
        return None, "not a live host"
    lines = []
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        return None, f"/dev/kmsg: {e.strerror}"
    try:
        total = 0
        while total < TEXT_MAX:
            try:
                rec = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == 32:    # EPIPE: a record was overwritten while reading
                    continue
                break
            if not rec:
                break
            total += len(rec)
            head, _, msg = rec.decode("utf-8", "replace").partition(";")
            msg = msg.split("\n", 1)[0]
            fields = head.split(",")
            if len(fields) >= 3 and LOG_RE.search(msg):
                try:
                    ts = int(fields[2])
                except ValueError:
                    ts = 0
                lines.append(f"[{ts // 1000000:5d}.{ts % 1000000:06d}] {msg}")
    finally:
        os.close(fd)
    return lines, "/dev/kmsg"


def _collect_tree(fs, base: str, budget: int, out: dict) -> int:
    """Regular files below ``base`` (symlinks not followed), at most ``budget`` bytes."""
    for rel in fs.files_below(base):
        data = fs.read(f"{base}/{rel}", budget)
        if data is None:
            continue
        budget -= len(data)
        out[f"{base}/{rel}"] = ("file", data)
        if budget <= 0:
            return budget
    return budget


def build_capture(root="/", *, live: bool = True, fs=None) -> tuple[bytes, dict]:
    """Collect a host (``root`` = ``/``) or a copied tree (a sysfs snapshot's top directory,
    ``live=False``: no kernel log, no uname) into capture bytes; returns (bytes, manifest)."""
    fs = fs if fs is not None else _DirFS(root)
    devdir = "sys/bus/pci/devices"
    if not fs.isdir(devdir):
        raise BadInput("no sys/bus/pci/devices to capture", file=str(root))
    members: dict[str, tuple] = {}       # name -> ("file", bytes) | ("link", target)
    notes: list[str] = []
    privileged = (os.geteuid() == 0) if live else None
    devices = {}
    short_config = 0
    for name in fs.listdir(devdir):
        if not _BDF.match(name):
            continue
        real = fs.realpath(f"{devdir}/{name}")
        rel = real if real and real.startswith("sys/devices/") else f"sys/devices/{name}"
        members[f"sys/bus/pci/devices/{name}"] = (
            "link", os.path.relpath(rel, "sys/bus/pci/devices"))
        src = real or f"{devdir}/{name}"
        cfg = fs.read(f"{src}/config", CONFIG_MAX)
        if cfg is None:
            notes.append(f"{name}: config not readable")
            continue
        if len(cfg) <= 256:
            short_config += 1
        members[f"{rel}/config"] = ("file", cfg)
        facts = {"path": rel, "config_bytes": len(cfg)}
        for a in ATTRS:
            v = _text(fs, f"{src}/{a}")
            if v is not None:
                members[f"{rel}/{a}"] = ("file", (v + "\n").encode())
                facts[a] = v
        for ln in LINKS:
            if fs.islink(f"{src}/{ln}"):
                target = fs.readlink(f"{src}/{ln}")
                facts[ln] = os.path.basename(target.rstrip("/"))
                inside = os.path.normpath(os.path.join(rel, target))
                if not os.path.isabs(target) and not inside.startswith(".."):
                    members[f"{rel}/{ln}"] = ("link", target)
        devices[name] = facts
    if not devices:
        raise BadInput("no PCI functions found", file=str(devdir))
    if live and not privileged:
        notes.append("not run as root: config files hold what sysfs gives an unprivileged "
                     "reader (64 bytes, the standard header; no capabilities)")
    elif short_config == len(devices) and any(d["config_bytes"] == 64
                                              for d in devices.values()):
        notes.append("config files hold 64 bytes (an unprivileged copy): no capabilities")
    manifest = {"kind": KIND, "format": FORMAT, "live": live, "privileged": privileged,
                "release": None, "cmdline": None, "kernel_config": None, "kernel_log": None,
                "kho_debugfs": None, "functions": len(devices), "devices": devices,
                "notes": notes}
    release = None
    if live:
        release = os.uname().release
    else:
        release = _text(fs, "proc/sys/kernel/osrelease")
    if release:
        manifest["release"] = release
        members["host/release"] = ("file", (release + "\n").encode())
    cmdline = _text(fs, "proc/cmdline", TEXT_MAX)
    if cmdline is not None:
        cmdline = redact_cmdline(cmdline)
        manifest["cmdline"] = cmdline
        members["host/cmdline"] = ("file", (cmdline + "\n").encode())
    cfg_text, cfg_from, cfg_why = _kernel_config(fs, release)
    if cfg_why is not None:
        notes.append(f"{cfg_why}: not kept")
    if cfg_text is not None:
        manifest["kernel_config"] = cfg_from
        members["host/config"] = ("file", cfg_text.encode())
    else:
        notes.append("no kernel config (/proc/config.gz or /boot/config-RELEASE)")
    log, log_from = _kernel_log(live)
    if log is not None:
        manifest["kernel_log"] = {"from": log_from, "lines": len(log)}
        members["host/log"] = ("file", "".join(ln + "\n" for ln in log).encode())
    elif live:
        notes.append(f"kernel log not readable ({log_from})")
    if fs.isdir("sys/kernel/debug/kho"):
        kho_members: dict = {}
        left = _collect_tree(fs, "sys/kernel/debug/kho", KHO_MAX, kho_members)
        members.update(kho_members)
        manifest["kho_debugfs"] = sorted(k.split("kho/", 1)[1] for k in kho_members)
        if left <= 0:
            notes.append(f"KHO debugfs tree cut at {KHO_MAX} bytes")
    return _pack(manifest, members), manifest


def _pack(manifest: dict, members: dict) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tf:
        _add(tf, MANIFEST, ("file", (json.dumps(manifest, indent=1, sort_keys=True)
                                     + "\n").encode()))
        dirs = set()
        for name in members:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        for name in sorted(dirs | set(members)):
            _add(tf, name, members.get(name, ("dir", None)))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _add(tf: tarfile.TarFile, name: str, what: tuple) -> None:
    kind, payload = what
    ti = tarfile.TarInfo(name)
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 0, 0, 0, "", ""
    if kind == "dir":
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(ti)
    elif kind == "link":
        ti.type, ti.mode, ti.linkname = tarfile.SYMTYPE, 0o777, payload
        tf.addfile(ti)
    else:
        ti.mode, ti.size = 0o644, len(payload)
        tf.addfile(ti, io.BytesIO(payload))


def build_from_snapshot(archive, top: str | None = None) -> tuple[bytes, dict]:
    """A capture made from a copied tree shipped as a tar archive (e.g. hwloc's test
    tarballs), read in memory: the top directory holding ``sys/bus/pci/devices`` is the
    root (or ``top``)."""
    archive = Path(archive)
    raw: dict = {}
    try:
        with tarfile.open(archive) as tf:
            total = 0
            for m in tf:
                name = os.path.normpath(m.name).lstrip("/")
                if name.startswith("..") or name == ".":
                    continue
                if m.isfile():
                    total += m.size
                    if total > 256 << 20:
                        raise BadInput("more than 256 MiB of files", file=str(archive))
                    raw[name] = ("file", tf.extractfile(m).read())
                elif m.issym():
                    raw[name] = ("link", m.linkname)
                elif m.isdir():
                    raw[name] = ("dir",)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise BadInput(f"cannot read tar archive: {e}", file=str(archive)) from None
    if top is None:
        tops = sorted({n.split("/sys/bus/pci/devices/", 1)[0] for n in raw
                       if "/sys/bus/pci/devices/" in f"/{n}"})
        top = tops[0].lstrip("/") if tops else ""
        if top.startswith("sys/bus/pci/devices/"):
            top = ""
    pre = f"{top}/" if top else ""
    sub = {n[len(pre):]: v for n, v in raw.items() if n.startswith(pre) and n != top}
    return build_capture(str(archive), live=False, fs=_TarFS(sub))


# ---- reading ------------------------------------------------------------------------------

def is_capture(path) -> bool:
    """Is ``path`` a capture? The format table's answer for the file's first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(CAPTURE_HEAD)
    except (OSError, ValueError):
        return False
    return identify(head, str(path)).kind == "pcilu_capture"


def read_manifest(path) -> dict:
    """The manifest of a capture, checked enough that the readers can trust its shape."""
    label = str(path)
    try:
        with tarfile.open(path, "r:gz") as tf:
            first = tf.next()
            if first is None or first.name != MANIFEST or not first.isfile():
                raise BadInput(f"not a pcilu capture (first member is not {MANIFEST})",
                               file=label)
            if first.size > MANIFEST_MAX:
                raise BadInput(f"manifest of {first.size} bytes (at most {MANIFEST_MAX})",
                               file=label, field=MANIFEST)
            data = tf.extractfile(first).read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise BadInput(f"cannot read capture: {e}", file=label) from None
    try:
        man = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInput(f"manifest is not JSON: {e}", file=label, field=MANIFEST) from None
    if not isinstance(man, dict) or man.get("kind") != KIND:
        raise BadInput(f"manifest kind is not {KIND!r}", file=label, field=f"{MANIFEST}:kind")
    if man.get("format") != FORMAT:
        raise BadInput(f"capture format {man.get('format')!r} (this pcilu reads {FORMAT}): "
                       "use the pcilu that wrote it", file=label, field=f"{MANIFEST}:format")
    devs = man.get("devices")
    if not isinstance(devs, dict) or not all(isinstance(v, dict) for v in devs.values()):
        raise BadInput("devices is not a mapping of BDF to facts", file=label,
                       field=f"{MANIFEST}:devices")
    return man


def member_text(path, name: str, limit: int = TEXT_MAX) -> str | None:
    """One text member of a capture (``host/config``, ``host/log``...), or None."""
    try:
        with tarfile.open(path, "r:gz") as tf:
            for m in tf:
                if m.name == name and m.isfile():
                    if m.size > limit:
                        raise BadInput(f"{m.size} bytes (at most {limit})", file=str(path),
                                       field=name)
                    return tf.extractfile(m).read().decode("utf-8", "replace")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise BadInput(f"cannot read capture: {e or 'truncated'}", file=str(path)) from None
    return None


def drivers_of(manifest: dict) -> dict[str, str]:
    """BDF -> bound driver name (only bound functions)."""
    return {bdf: f["driver"] for bdf, f in sorted(manifest["devices"].items())
            if isinstance(f.get("driver"), str)}


def load_capture(path) -> "object":
    """The fabric of a capture; ``fabric.source`` = {kind: capture, file, release, cmdline,
    privileged, drivers: {BDF: driver}}."""
    from pcilu_cli.fabric.sysfs import load_sysfs
    man = read_manifest(path)
    try:
        fab = load_sysfs(path)
    except (EOFError, zlib.error) as e:     # a gzip stream cut short inside the tar
        raise BadInput(f"cannot read capture: {e or 'truncated'}", file=str(path)) from None
    fab.source = {"kind": "capture", "file": str(path), "release": man.get("release"),
                  "cmdline": man.get("cmdline"), "privileged": man.get("privileged"),
                  "drivers": drivers_of(man)}
    if man.get("release"):
        fab.name = f"{Path(str(path)).name} ({man['release']})"
    return fab


_DUMP_DEV = re.compile(r"^(?:([0-9a-fA-F]{4,8}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7]) ")


def build_from_lspci(dump) -> tuple[bytes, dict]:
    """A capture made from an ``lspci -vvxxx[x]`` dump (a bug report's only data): config as
    dumped, the sysfs nesting rebuilt from the bridges, the driver from "Kernel driver in
    use:". No host facts (release, config, log) — the dump has none."""
    from pcilu_cli.fabric.lspci import parse_dump
    dump = Path(dump)
    try:
        text = dump.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"cannot read: {e}", file=str(dump)) from None
    fab = parse_dump(text, str(dump))
    drivers, cur = {}, None
    for line in text.splitlines():
        m = _DUMP_DEV.match(line)
        if m:
            cur = format_bdf(int(m.group(1) or "0", 16), int(m.group(2), 16),
                             pci_devfn(int(m.group(3), 16), int(m.group(4))))
        elif cur and line.strip().startswith("Kernel driver in use:"):
            drivers[cur] = line.split(":", 1)[1].strip()
    members, devices = {}, {}
    for fn in fab.functions(include_virtfns=False):
        where = fab.current_bdf(fn)
        if where is None:
            continue
        bdf = format_bdf(*where)
        chain, up = [bdf], fn.upstream
        while up is not None:
            ub = fab.current_bdf(up)
            chain.append(format_bdf(*ub) if ub else up.uid)
            up = up.upstream
        root = fn.root                      # the root bus, below its host bridge
        rel = "/".join([f"sys/devices/{format_host_bridge(root.domain, root.number)}"]
                       + chain[::-1])
        members[f"sys/bus/pci/devices/{bdf}"] = ("link",
                                                 os.path.relpath(rel, "sys/bus/pci/devices"))
        cfg = fn.cfg.to_bytes()
        members[f"{rel}/config"] = ("file", cfg)
        facts = {"path": rel, "config_bytes": len(cfg), "vendor": f"0x{fn.vendor:04x}",
                 "device": f"0x{fn.device:04x}", "class": f"0x{fn.class_code:06x}"}
        for a in ("vendor", "device", "class"):
            members[f"{rel}/{a}"] = ("file", (facts[a] + "\n").encode())
        if bdf in drivers:
            facts["driver"] = drivers[bdf]
            members[f"{rel}/driver"] = ("link", os.path.relpath(
                f"sys/bus/pci/drivers/{drivers[bdf]}", rel))
        devices[bdf] = facts
    manifest = {"kind": KIND, "format": FORMAT, "live": False, "privileged": None,
                "release": None, "cmdline": None, "kernel_config": None, "kernel_log": None,
                "kho_debugfs": None, "functions": len(devices), "devices": devices,
                "notes": [f"made from the lspci dump {dump.name}: no host facts"]}
    return _pack(manifest, members), manifest
