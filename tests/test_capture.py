# SPDX-License-Identifier: GPL-2.0-only
"""`pcilu capture`: a user archives a live host once and rehearses on it anywhere — on the
machine the tests run on (its real sysfs), on copied trees, and on the shipped captures made
from the real hwloc snapshots and lspci dumps."""
from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import pcilu
from tests.conftest import ROOT
from tests.pcilu_run import run

SYS = Path("/sys/bus/pci/devices")
LIVE = SYS.is_dir() and any(SYS.iterdir())
live = pytest.mark.skipif(not LIVE, reason="no /sys/bus/pci/devices on this machine")
CAPTURES = ROOT / "fixtures/captures"


def members(path):
    with tarfile.open(path, "r:gz") as tf:
        return {m.name: m for m in tf.getmembers()}


def manifest(path):
    with tarfile.open(path, "r:gz") as tf:
        return json.loads(tf.extractfile("pcilu-capture.json").read())


@live
def test_capturing_this_host_twice_gives_the_same_bytes(tmp_path):
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    doc = run(["capture", "-o", a, "--json"]).json()
    run(["capture", "-o", b, "-q"])
    assert a.read_bytes() == b.read_bytes()
    assert doc["kind"] == "capture" and doc["bytes"] == a.stat().st_size
    names = sorted(p.name for p in SYS.iterdir())
    man = manifest(a)
    assert sorted(man["devices"]) == names
    assert man["release"] == os.uname().release
    assert man["privileged"] is (os.geteuid() == 0)
    for m in members(a).values():
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")
    assert a.read_bytes()[4:8] == b"\0\0\0\0"          # gzip header mtime


@live
def test_a_capture_holds_what_sysfs_says(tmp_path):
    cap = tmp_path / "host.tar.gz"
    run(["capture", "-o", cap])
    man = manifest(cap)
    with tarfile.open(cap, "r:gz") as tf:
        for bdf, facts in man["devices"].items():
            dev = SYS / bdf
            cfg = tf.extractfile(f"{facts['path']}/config").read()
            assert cfg == (dev / "config").read_bytes()[:4096]
            if (dev / "driver").is_symlink():
                assert facts["driver"] == os.path.basename(os.readlink(dev / "driver"))
            else:
                assert "driver" not in facts
            assert facts["vendor"] == (dev / "vendor").read_text().strip()
            link = tf.getmember(f"sys/bus/pci/devices/{bdf}")
            assert link.issym() and link.linkname.endswith(bdf)
        names = set(tf.getnames())
    assert ("host/config" in names) == (Path("/proc/config.gz").is_file() or
                                        Path(f"/boot/config-{os.uname().release}").is_file())
    assert "host/cmdline" in names and "host/release" in names


@live
def test_a_capture_of_this_host_plans_boots_and_rehearses(tmp_path):
    cap = tmp_path / "host.tar.gz"
    run(["capture", "-o", cap])
    plan = run(["plan", cap, "--all", "--json"]).json()
    assert plan["source_kind"] == "capture"
    ok = [d["bdf"] for d in plan["devices"] if d["preservable"]]
    init = run(["init", cap, "-o", tmp_path / "g0.elf", "--json"]).json()
    assert init["functions"] == len(list(SYS.iterdir()))
    shown = run(["fabric", "show", cap, "--json"]).json()
    assert shown["kind"] == "fabric"
    if not ok:
        pytest.skip("no preservable device on this host")
    run(["preserve", tmp_path / "g0.elf", ok[-1]])
    rep = run(["kexec", tmp_path / "g0.elf", "-o", tmp_path / "g1.elf", "--json"]).json()
    assert [d["bdf"] for d in rep["devices"] if d["incoming"]][-1] == ok[-1]


@live
def test_without_root_the_capture_says_so_and_keeps_what_sysfs_gave(tmp_path, monkeypatch):
    # what an unprivileged user gets: the capture is still made, the manifest says so
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    from pcilu_cli.fabric.capture import build_capture
    data, man = build_capture("/")
    assert man["privileged"] is False
    assert any("not run as root" in n for n in man["notes"])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        for bdf, f in man["devices"].items():
            got = tf.extractfile(f"{f['path']}/config").read()
            assert got == (SYS / bdf / "config").read_bytes()[:4096]


def _fake_root(root: Path, cmdline: str) -> Path:
    dev = root / "sys/devices/pci0000:00/0000:00:00.0"
    dev.mkdir(parents=True)
    cfg = bytearray(64)
    cfg[0:4] = bytes.fromhex("86803712")        # 8086:1237, a host bridge
    cfg[0x0A:0x0C] = bytes.fromhex("0006")
    (dev / "config").write_bytes(bytes(cfg))
    (dev / "vendor").write_text("0x8086\n")
    links = root / "sys/bus/pci/devices"
    links.mkdir(parents=True)
    (links / "0000:00:00.0").symlink_to("../../../devices/pci0000:00/0000:00:00.0")
    (root / "proc").mkdir()
    (root / "proc/cmdline").write_text(cmdline + "\n")
    return root


def test_a_copied_tree_is_captured_without_secrets(tmp_path):
    root = _fake_root(tmp_path / "root", "root=/dev/vda1 rd.luks.key=/x iscsi_password=hunter2 "
                      "quiet")
    cap = tmp_path / "c.tar.gz"
    run(["capture", "--root", root, "-o", cap])
    data = gzip.decompress(cap.read_bytes())
    assert b"hunter2" not in data and b"/x " not in data
    man = manifest(cap)
    assert man["cmdline"] == ("root=/dev/vda1 rd.luks.key=<redacted> "
                              "iscsi_password=<redacted> quiet")
    assert man["live"] is False and man["kernel_log"] is None
    assert run(["inspect", cap, "--json"]).json()["functions"] == 1


def test_a_dump_of_a_vmd_domain_is_captured_below_its_host_bridge(tmp_path):
    """A bug report's lspci dump of an NVMe drive behind VMD (domain 10000, root bus e0): the
    rebuilt sysfs tree puts it where the kernel does, below /sys/devices/pci10000:e0."""
    from pcilu_cli.fabric import capture
    dump = tmp_path / "vmd.lspci"
    cfg = bytes.fromhex("86 80 54 0a 06 04 10 00 00 02 08 01 00 00 00 00") + bytes(48)
    dump.write_text("10000:e0:00.0 Non-Volatile memory controller: Intel Corporation NVMe\n"
                    + "".join(f"{o:02x}: " + " ".join(f"{b:02x}" for b in cfg[o:o + 16]) + "\n"
                              for o in range(0, 64, 16))
                    + "\tKernel driver in use: nvme\n\n")
    _data, man = capture.build_from_lspci(dump)
    assert man["devices"]["10000:e0:00.0"]["path"] == \
        "sys/devices/pci10000:e0/10000:e0:00.0"
    assert man["devices"]["10000:e0:00.0"]["driver"] == "nvme"


def test_shipped_captures_are_rebuilt_byte_for_byte(shared_dir):
    p = subprocess.run([sys.executable, str(CAPTURES / "regenerate.py"), "--check",
                        str(shared_dir)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert len(list(CAPTURES.glob("*.tar.gz"))) == 6


@pytest.mark.parametrize("cap", sorted(p.name for p in CAPTURES.glob("*.tar.gz")))
def test_every_shipped_capture_boots_and_kexecs(cap):
    man = manifest(CAPTURES / cap)
    m = pcilu.init(CAPTURES / cap)
    assert len(m.fabric) >= len([d for d in man["devices"] if "physfn" not in
                                 man["devices"][d]])
    assert m.kexec().generation == 1


def test_a_corrupt_manifest_is_one_line_exit_3(tmp_path):
    good = CAPTURES / "lspci-cap-pcie-2.tar.gz"
    with tarfile.open(good, "r:gz") as tf:
        items = [(m, tf.extractfile(m).read() if m.isfile() else None)
                 for m in tf.getmembers()]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as out:
        for m, data in items:
            if m.name == "pcilu-capture.json":
                data = b'{"kind": "pcilu_capture", "format": 1, "devices": [1, 2]}'
                m.size = len(data)
            out.addfile(m, io.BytesIO(data) if data is not None else None)
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(gzip.compress(raw.getvalue()))
    r = run(["init", bad, "-o", tmp_path / "g.elf", "--json"], exit_code=3)
    assert r.json()["field"] == "pcilu-capture.json:devices"
    assert not (tmp_path / "g.elf").exists()


def test_a_truncated_capture_is_one_line_exit_3(tmp_path):
    data = (CAPTURES / "lspci-tree-asus-p6t6.tar.gz").read_bytes()
    bad = tmp_path / "cut.tar.gz"
    bad.write_bytes(data[:len(data) // 2])
    r = run(["plan", bad, "--all"], exit_code=3)
    assert str(bad) in r.stderr


def test_a_scenario_rehearses_on_a_capture(tmp_path):
    sc = tmp_path / "s.yaml"
    sc.write_text(f"""pcilu_scenario: 1
fabric: {CAPTURES / 'lspci-tree-asus-p6t6.tar.gz'}
steps:
  - preserve: 0000:04:00.0
  - kexec:
    expect:
      - incoming: 0000:04:00.0
      - not-outgoing: [0000:04:00.0]
""")
    r = run(["rehearse", sc, "--json"], exit_code=None)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.json()["kind"] == "rehearsal"


def _with_release(root: Path, release: str = "6.19.0-lu") -> Path:
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/osrelease").write_text(release + "\n")
    return root


@pytest.mark.parametrize("damage", ["cut short", "not gzip"])
def test_a_damaged_proc_config_gz_is_not_kept_as_the_kernel_config(tmp_path, damage):
    """A /proc/config.gz whose stream does not end would read as a config where every option
    after the cut is "not set" (CONFIG_PCI_LIVEUPDATE among them): it is not kept, the
    capture says why, and /boot's config of the same release is taken instead."""
    root = _with_release(_fake_root(tmp_path / "root", "quiet"))
    text = "".join(f"CONFIG_OPTION_{i}=y\n" for i in range(5000)) + "CONFIG_PCI_LIVEUPDATE=y\n"
    gz = gzip.compress(text.encode())
    (root / "proc/config.gz").write_bytes(gz[:len(gz) // 2] if damage == "cut short"
                                          else b"\x1f\x8bXXXX" + gz[8:])
    cap = tmp_path / "c.tar.gz"
    run(["capture", "--root", root, "-o", cap])
    man = manifest(cap)
    assert man["kernel_config"] is None and "host/config" not in members(cap)
    assert any(n.startswith("/proc/config.gz is") and n.endswith(": not kept")
               for n in man["notes"]), man["notes"]
    (root / "boot").mkdir()
    (root / "boot/config-6.19.0-lu").write_text(text)
    run(["capture", "--root", root, "-o", cap])
    man = manifest(cap)
    assert man["kernel_config"] == "/boot/config-6.19.0-lu"
    with tarfile.open(cap, "r:gz") as tf:
        assert tf.extractfile("host/config").read().decode().endswith(
            "CONFIG_PCI_LIVEUPDATE=y\n")


def test_a_whole_proc_config_gz_is_kept(tmp_path):
    root = _with_release(_fake_root(tmp_path / "root", "quiet"))
    text = "CONFIG_KEXEC_HANDOVER=y\nCONFIG_PCI_LIVEUPDATE=y\n"
    (root / "proc/config.gz").write_bytes(gzip.compress(text.encode()))
    cap = tmp_path / "c.tar.gz"
    run(["capture", "--root", root, "-o", cap])
    man = manifest(cap)
    assert man["kernel_config"] == "/proc/config.gz"
    assert not any("config.gz" in n for n in man["notes"])
    with tarfile.open(cap, "r:gz") as tf:
        assert tf.extractfile("host/config").read().decode() == text
