# SPDX-License-Identifier: GPL-2.0-only
"""A file from another machine can do no harm (issue "trust at the edges", items 1-5).

Every crafted class (tests/hostile_files.py, generated here, never shipped) is run by the real
CLI in a child process under a memory ceiling (``resource.setrlimit``): it must end with one
``pcilu: error:`` line naming the file, exit 3, and a peak RSS within the stated budget of
64 MiB + 8 x the input's size. Time growth with input size is a benchmark
(bench/bench_hostile.py), not a timed test; the child's timeout is only a backstop.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tarfile

import pytest

import pcilu
from tests import hostile_files as H
from tests.conftest import ROOT
from tests.pcilu_run import child_env, run

MiB = 1 << 20
CEILING = 1 << 31              # address space of the child: a runaway is stopped, not the host


def budget(size: int) -> int:
    return 64 * MiB + 8 * size


_base_state = H.generation_1


CLASSES = {
    "fabric-zlib-bomb": lambda: H.fabric_bomb(),
    "fabric-v2-zlib-bomb": lambda: H.fabric_bomb(version=2),
    "fabric-declares-a-million-functions": H.fabric_million_functions,
    "fabric-declares-a-million-functions-300MB": lambda: H.fabric_million_functions(
        extra=300_000_000),
    "fabric-uid-column-of-the-least-text": H.fabric_least_uid_text,
    "state-report-note-bomb": lambda: H.state_report_bomb(_base_state()),
    "kernel-note-json-growth": lambda: H.kernel_note_bomb(_base_state()),
    "deep-json-metadata": lambda: H.deep_json_note(_base_state()),
    "deep-yaml-fabric": H.deep_yaml_fabric,
    "yaml-aliases-fabric": lambda: H.yaml_laughs("fabric"),
    "yaml-aliases-scenario": lambda: H.yaml_laughs("scenario"),
    "fdt-25k-siblings": H.fdt_siblings,
    "elf-500k-tiny-segments": H.elf_tiny_segments,
    "sysfs-archive-huge-config": H.sysfs_big_config,
    "pci-ser-million-duplicates": H.pci_ser_duplicates,
}


def run_measured(argv, path, timeout=120):
    """Like run_limited, with the child's own peak RSS from wait4()."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (CEILING, CEILING))
    # the child reports its own VmHWM (peak RSS of the pcilu process image only): wait4's
    # ru_maxrss also counts the forked copy of this (large) pytest process before exec
    hwm = path.parent / "vmhwm"
    args = [sys.executable, "-c", HWM_WRAPPER, str(hwm),
            *[a.replace("{file}", str(path)) for a in argv]]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=limit, cwd=path.parent, env=child_env())
    import threading
    bufs = {}

    def drain(name, stream):
        bufs[name] = stream.read()
    ts = [threading.Thread(target=drain, args=(n, s)) for n, s in (("out", p.stdout),
                                                                  ("err", p.stderr))]
    for t in ts:
        t.start()
    import time
    deadline = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            p.kill()
            os.wait4(p.pid, 0)
            for t in ts:
                t.join()
            pytest.fail(f"`pcilu {' '.join(argv)}` did not finish in {timeout} s")
        time.sleep(0.02)
    for t in ts:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    peak = int(hwm.read_text()) * 1024
    return p.returncode, peak, bufs["out"].decode(errors="replace"), \
        bufs["err"].decode(errors="replace")


HWM_WRAPPER = """
import sys
out = sys.argv.pop(1)
def hwm():
    for ln in open("/proc/self/status"):
        if ln.startswith("VmHWM:"):
            open(out, "w").write(ln.split()[1])
try:
    from pcilu_cli.cli import main
    main(sys.argv[1:])
finally:
    hwm()
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CLASSES))
def test_crafted_input_is_refused_within_the_memory_budget(name, tmp_path):
    argv, data, suffix = CLASSES[name]()
    path = tmp_path / f"crafted{suffix}"
    path.write_bytes(data)
    code, peak, out, err = run_measured(argv, path)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 3, f"{name}: exit {code}; stderr {err[-400:]!r}"
    assert "Traceback" not in err and "internal error" not in err, err[-400:]
    errors = [ln for ln in lines if ln.startswith("pcilu: error:")]
    assert len(errors) == 1 and path.name in errors[0], lines
    assert peak <= budget(len(data)), \
        f"{name}: peak RSS {peak / MiB:.0f} MiB > budget {budget(len(data)) / MiB:.0f} MiB " \
        f"for {len(data)} bytes"
    if "--json" in argv:
        assert json.loads(out)["kind"] == "error"


# ---- item 1: nothing read from a file becomes a path outside the output directory ----------

def _state_with_subfdt_named(tmp_path, new_name: bytes):
    """The README's generation 1, with the root FDT's ``kexec-metadata`` node renamed."""
    old = b"kexec-metadata\0"
    assert len(new_name) == len(old) - 1
    data = _base_state()
    assert old in data
    p = tmp_path / "crafted.elf"
    p.write_bytes(data.replace(old, new_name + b"\0"))
    return p


@pytest.mark.parametrize("name", [b"../../../escap", b"/tmp/../escape", b"..%2F..%2Fesca"])
def test_export_never_writes_outside_its_directory(tmp_path, name):
    state = _state_with_subfdt_named(tmp_path, name)
    out = tmp_path / "a" / "b" / "export"
    doc = pcilu.load(state).export(out)
    real = os.path.realpath(out)
    for f in doc["files"]:
        p = os.path.realpath(out / f["path"])
        assert p.startswith(real + os.sep), f["path"]
        assert os.path.isfile(p)
    stray = [q for q in tmp_path.rglob("*esca*") if not str(q.resolve()).startswith(real)]
    assert not stray and not os.path.exists("/tmp/escape")
    names = [f["path"] for f in doc["files"] if f["path"].startswith("kho/sub_fdts/")]
    assert all("/" not in n[len("kho/sub_fdts/"):] for n in names), names


def test_export_refuses_a_symlink_in_its_directory_that_leads_out(tmp_path):
    state = tmp_path / "g1.elf"
    state.write_bytes(_base_state())
    out = tmp_path / "export"
    pcilu.load(state).export(out)
    outside = tmp_path / "outside"
    outside.mkdir()
    import shutil
    shutil.rmtree(out / "flb")
    os.symlink(outside, out / "flb")
    r = run(["export", state, "-o", out], exit_code=3)
    assert "outside the export directory" in r.stderr
    assert list(outside.iterdir()) == []


def test_a_scenario_name_is_one_file_name_under_keep(tmp_path):
    scen = (ROOT / "fixtures/scenarios/qemu-virtio-net.yaml").read_text()
    fab = ROOT / "fixtures/fabrics/qemu-virtio-net.yaml"
    scen = scen.replace("../fabrics/qemu-virtio-net.yaml", str(fab))
    paths = []
    for i in range(2):
        p = tmp_path / f"s{i}.yaml"
        p.write_text(scen.replace("name: qemu-virtio-net", "name: ../../../../esc", 1))
        paths.append(p)
    keep = tmp_path / "k" / "keep"
    run(["rehearse", *paths, "--keep", keep, "--json"])
    real = os.path.realpath(keep)
    assert all(os.path.realpath(q).startswith(real + os.sep) for q in tmp_path.rglob("*esc*"))
    assert len(list(keep.iterdir())) == 2


# ---- items 2-4, in process: messages that say where --------------------------------------

def test_a_deep_json_note_names_the_file_and_the_note(tmp_path):
    argv, data, _ = H.deep_json_note(_base_state(), scale=1)
    p = tmp_path / "deep.elf"
    p.write_bytes(data)
    r = run(["inspect", p], exit_code=3)
    assert f"{p}" in r.stderr and "metadata note" in r.stderr and "nests" in r.stderr


def test_yaml_aliases_are_refused_with_the_line(tmp_path):
    _, data, _ = H.yaml_laughs("fabric")
    p = tmp_path / "laughs.yaml"
    p.write_bytes(data)
    r = run(["fabric", "show", p], exit_code=3)
    assert f"{p}:2: YAML anchors and aliases" in r.stderr


def test_fdt_duplicate_sibling_is_still_found(tmp_path):
    from pcilu_cli.errors import BadInput
    from pcilu_cli.memory.fdt import parse_fdt
    _, data, _ = H.fdt_siblings()
    root = parse_fdt(data)
    assert len(root.children) == 25_000 and root.child("n24999").name == "n24999"
    dup = data.replace(b"n24999\0", b"n24998\0")
    with pytest.raises(BadInput, match="duplicate node /n24998"):
        parse_fdt(dup)


def _tar(tmp_path, members, name="snap.tar"):
    p = tmp_path / name
    with tarfile.open(p, "w") as tf:
        for mname, payload in members:
            import io
            ti = tarfile.TarInfo(mname)
            ti.size = len(payload)
            tf.addfile(ti, io.BytesIO(payload))
    return p


def test_sysfs_archive_errors_name_the_archive_and_the_member(tmp_path):
    cfg = bytes(5000)
    p = _tar(tmp_path, [("snap/sys/bus/pci/devices/0000:00:00.0/config", cfg)])
    r = run(["fabric", "show", p], exit_code=3)
    assert f"{p}/snap/sys/bus/pci/devices/0000:00:00.0/config" in r.stderr
    assert "4096" in r.stderr


def test_sysfs_archive_member_count_is_capped(tmp_path, monkeypatch):
    from pcilu_cli.errors import BadInput
    from pcilu_cli.fabric import sysfs
    monkeypatch.setattr(sysfs, "MAX_MEMBERS", 50)
    members = [(f"snap/junk/{i}", b"x") for i in range(60)]
    p = _tar(tmp_path, members)
    with pytest.raises(BadInput, match="more than 50 members") as e:
        sysfs.load_sysfs(p)
    assert str(p) in str(e.value)


def test_sysfs_archive_is_never_extracted_and_a_kill_leaves_nothing(tmp_path):
    """The reader runs in a child with its own TMPDIR; killed mid-read, it leaves no file."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    cfg = bytes.fromhex("86800000") + bytes(60)
    members = [(f"snap/sys/bus/pci/devices/0000:{i >> 8:02x}:{(i >> 3) & 31:02x}.{i & 7}/config",
                cfg) for i in range(20_000)]
    p = _tar(tmp_path, members)
    code = "import sys; from pcilu_cli.fabric.sysfs import load_sysfs; load_sysfs(sys.argv[1])"
    child = subprocess.Popen([sys.executable, "-c", code, str(p)], cwd=tmp_path,
                             env=child_env(TMPDIR=str(tmpdir)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import time
    time.sleep(0.8)
    child.kill()
    child.wait()
    assert list(tmpdir.iterdir()) == []


# ---- a device tree at the size limit is read, and shown, within the budget ------------------

def _kho_root_with_subtrees(n: int) -> bytes:
    """A valid gen-A KHO root FDT with ``n`` subtrees (a real one has a handful)."""
    import struct
    from pcilu_cli.abi import kho
    gen = kho.GEN_OF_KHO_COMPATIBLE["kho-v1"]
    mm, sub = kho.PROP_PRESERVED_MEMORY_MAP.encode(), kho.sub_tree_prop(gen).encode()
    strings = b"compatible\0" + mm + b"\0" + sub + b"\0"
    o_sub = len(b"compatible\0") + len(mm) + 1

    def prop(off, val):
        return struct.pack(">III", 3, len(val), off) + val + bytes(-len(val) % 4)
    st = bytearray(struct.pack(">I", 1) + bytes(4)) + prop(0, b"kho-v1\0") + \
        prop(len(b"compatible\0"), bytes(8))
    for i in range(n):
        name = b"s%d\0" % i
        st += struct.pack(">I", 1) + name + bytes(-len(name) % 4) + \
            prop(o_sub, struct.pack("<Q", i << 12)) + struct.pack(">I", 2)
    st += struct.pack(">II", 2, 9)
    off_strings = 56 + len(st)
    hdr = struct.pack(">10I", 0xD00DFEED, off_strings + len(strings), 56, off_strings, 40, 17,
                      16, 0, len(strings), len(st))
    return hdr + bytes(16) + bytes(st) + strings


LIMIT_TREES = {
    "plain-tree-130k-nodes": (lambda: H.fdt_siblings(nodes=130_000,
                                                     compatible=b"vendor,board")[1], 130_001),
    "kho-root-55k-subtrees": (lambda: _kho_root_with_subtrees(55_000), 55_000),
}


@pytest.mark.slow
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
@pytest.mark.parametrize("name", sorted(LIMIT_TREES))
def test_a_device_tree_at_the_size_limit_is_shown_within_the_budget(name, as_json, tmp_path):
    make, nodes = LIMIT_TREES[name]
    data = make()
    assert 1 << 20 < len(data) <= 2 << 20
    path = tmp_path / "big.dtb"
    path.write_bytes(data)
    argv = ["inspect", "{file}", *(["--json"] if as_json else [])]
    code, peak, out, err = run_measured(argv, path)
    assert code == 0, err[-400:]
    assert peak <= budget(len(data)), \
        f"peak RSS {peak / MiB:.0f} MiB > budget {budget(len(data)) / MiB:.0f} MiB"
    if as_json:
        doc = json.loads(out)
        shown = len(doc["tree"]["children"]) + 1 if doc["kind"] == "fdt" else \
            len(doc["subtrees"])
    else:
        shown = out.count(" {\n") if name.startswith("plain") else out.count("preserved-data")
    assert shown == nodes


@pytest.mark.slow
@pytest.mark.parametrize("view", ["text", "hex"])
def test_a_large_pci_ser_is_shown_for_people_within_the_budget(view, tmp_path):
    """The human views read the entries as they print them (a list of a million rows took
    over a gigabyte for an 8 MB blob)."""
    from pcilu_cli.abi import pci
    n = 250_000
    entries = [(slot, slot >> 13, (slot * 8) & 0xFFFF, 1 + slot % 3) for slot in range(0, n, 2)]
    path = tmp_path / "big.bin"
    path.write_bytes(pci.encode_pci_ser("v6", entries, max_nr_devices=n))
    argv = ["inspect", "{file}", "--profile", "v6", *(["--hex"] if view == "hex" else [])]
    code, peak, out, err = run_measured(argv, path)
    assert code == 0, err[-400:]
    assert peak <= budget(path.stat().st_size), \
        f"peak RSS {peak / MiB:.0f} MiB > budget {budget(path.stat().st_size) / MiB:.0f} MiB"
    if view == "text":
        assert out.count(" free (1 slot) ") == n // 2 and "free slots 125000" in out
    else:
        assert out.count(".refcount = ") == n // 2 and out.count("] free") == n // 2


@pytest.mark.slow
def test_a_yaml_fabric_of_4096_functions_is_read_within_the_budget(tmp_path):
    """Built from the parser's events: PyYAML's composed nodes cost ~100 bytes per byte of
    YAML (137 MiB for this 1.1 MB file, over its budget of 73 MiB)."""
    path = tmp_path / "host.yaml"
    run(["generate", "-n", "4096", "--seed", "2", "-o", path])
    code, peak, out, err = run_measured(["fabric", "show", "{file}", "--json"], path)
    assert code == 0, err[-400:]
    assert peak <= budget(path.stat().st_size), \
        f"peak RSS {peak / MiB:.0f} MiB > budget {budget(path.stat().st_size) / MiB:.0f} MiB"
    assert len(json.loads(out)["functions"]) == 4096
