# SPDX-License-Identifier: GPL-2.0-only
"""Ordinary mistakes get one clear line and leave nothing behind (issue "trust at the edges",
items 6-9, 11, 12): tried the way a new user following the README would make them."""
from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time

import pytest

import pcilu
from tests.conftest import ROOT
from tests.pcilu_run import child_env, run

FAB = ROOT / "fixtures/fabrics"
QEMU = FAB / "qemu-virtio-net.yaml"
SWITCH = FAB / "switch.yaml"
EMR = FAB / "emr-dsa-nvme.yaml"
SCEN = ROOT / "fixtures/scenarios/qemu-virtio-net.yaml"
NIC = "0000:01:00.0"


@pytest.fixture
def gen0(tmp_path):
    s = tmp_path / "gen0.elf"
    run(["init", QEMU, "-o", s])
    return s


@pytest.fixture
def gen1(gen0, tmp_path):
    run(["preserve", gen0, NIC])
    s = tmp_path / "gen1.elf"
    run(["kexec", gen0, "-o", s])
    return s


# ---- 6: a refused command leaves nothing behind ----------------------------------------------

@pytest.mark.parametrize("cmd", [["preserve", "{f}", NIC], ["unpreserve", "{f}", NIC],
                                 ["finish", "{f}", NIC], ["hot-add", "{f}"]])
def test_a_fabric_given_as_state_leaves_no_lock_file(tmp_path, cmd):
    fab = tmp_path / "switch.yaml"
    fab.write_bytes(SWITCH.read_bytes())
    r = run([c.replace("{f}", str(fab)) for c in cmd], exit_code=3)
    assert "YAML fabric" in r.stderr           # says what the file is
    assert sorted(p.name for p in tmp_path.iterdir()) == ["switch.yaml"]


def test_a_real_state_still_gets_its_lock(gen0):
    run(["preserve", gen0, NIC])
    assert (gen0.parent / "gen0.elf.lock").exists()


# ---- 7: file-system errors are bad input, one line, exit 3 --------------------------------------

def test_export_onto_an_existing_file(gen1, tmp_path):
    target = tmp_path / "taken.txt"
    target.write_text("mine")
    r = run(["export", gen1, "-o", target], exit_code=3)
    assert str(target) in r.stderr and target.read_text() == "mine"


def test_export_into_a_place_that_cannot_hold_a_directory(gen1, tmp_path):
    # below a regular file: refused by the file system for every user, root included
    r = run(["export", gen1, "-o", gen1 / "sub"], exit_code=3)
    assert str(gen1) in r.stderr


def test_export_to_a_read_only_directory(gen1, tmp_path):
    if os.geteuid() == 0:
        target = "/proc/pcilu-export"           # not writable even for root
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        target = ro / "x"
    r = run(["export", gen1, "-o", target], exit_code=3)
    assert str(target) in r.stderr


def test_rehearse_keep_into_a_file_is_bad_input(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    r = run(["rehearse", SCEN, "--keep", f / "gens", "--json"], exit_code=3)
    assert r.json()["kind"] == "error" and str(f) in r.stderr


# ---- 8: export into a non-empty directory does not mix generations -----------------------------

def test_export_replaces_only_what_an_earlier_export_wrote(gen0, gen1, tmp_path):
    out = tmp_path / "view"
    first = run(["export", gen1, "-o", out, "--json"]).json()
    assert any(f["path"].startswith("kho/in/") for f in first["files"])
    (out / "notes.txt").write_text("the operator's own file")
    second = run(["export", gen0, "-o", out, "--json"]).json()
    assert second["kind"] == "export"
    written = {f["path"] for f in second["files"]}
    assert not any(p.startswith("kho/in/") for p in written)
    assert set(second["removed"]) == {f["path"] for f in first["files"]} - written
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert files == written | {"notes.txt", ".pcilu-export"}
    meta = json.loads((out / "state.json").read_text())["metadata"]
    assert meta["generation"] == 0


def test_export_refuses_a_directory_it_does_not_own(gen1, tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "cat.jpg").write_bytes(b"\xff\xd8")
    r = run(["export", gen1, "-o", out], exit_code=3)
    assert "not empty" in r.stderr
    assert [p.name for p in out.iterdir()] == ["cat.jpg"]


# ---- 9: kexec STATE -o STATE --------------------------------------------------------------------

def test_kexec_onto_its_own_state_is_refused(gen0, tmp_path):
    before = gen0.read_bytes()
    run(["kexec", gen0, "-o", gen0], exit_code=2)
    os.symlink(gen0, tmp_path / "alias.elf")
    run(["kexec", gen0, "-o", tmp_path / "alias.elf"], exit_code=2)
    assert gen0.read_bytes() == before


# ---- 11: output to a pipe is not wrapped; aliases; Ctrl-C; panics; what the file is; plurals --

def _pipe(args):
    env = {k: v for k, v in child_env().items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run([sys.executable, "-m", "pcilu_cli", *map(str, args)],
                          capture_output=True, text=True, env=env)


@pytest.mark.parametrize("args", [["fabric", "show", SWITCH], ["rehearse", SCEN]])
def test_piped_output_is_not_wrapped_at_80_columns(args):
    narrow = _pipe(args + []).stdout
    env_cols = subprocess.run([sys.executable, "-m", "pcilu_cli", *map(str, args)],
                              capture_output=True, text=True,
                              env=child_env(COLUMNS="400")).stdout
    # what a wide terminal shows is what a pipe gets: no line was broken at 80
    import re
    ms = re.compile(r"\(\d+ ms\)")
    assert ms.sub("", narrow) == ms.sub("", env_cols)
    assert max(len(ln) for ln in narrow.splitlines()) > 80


def test_inspect_piped_is_not_wrapped(gen1):
    narrow = _pipe(["inspect", gen1]).stdout
    wide = subprocess.run([sys.executable, "-m", "pcilu_cli", "inspect", str(gen1)],
                          capture_output=True, text=True,
                          env=child_env(COLUMNS="400")).stdout
    assert narrow == wide


@pytest.mark.parametrize("alias,name", [("pci+1", "v8"), ("pci+2", "v9"), ("pci-v3", "v6")])
def test_documented_aliases_are_accepted_everywhere_a_profile_is(tmp_path, alias, name):
    s0, s1 = tmp_path / "a.elf", tmp_path / "b.elf"
    assert run(["init", SWITCH, "-o", s0, "--profile", alias, "--json"]).json()["profile"] \
        == name
    assert run(["kexec", s0, "-o", s1, "--profile", alias, "--json"]).json()["profile"] == name
    blob = tmp_path / "x.bin"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"profile": alias, "devices": []}))
    run(["encode", spec, "-o", blob])
    assert run(["inspect", blob, "--profile", alias, "--json"]).json()["profile"] == name
    scen = tmp_path / "s.yaml"
    scen.write_text(SCEN.read_text().replace("profile: v6", f"profile: {alias}")
                    .replace("../fabrics/", f"{FAB}/"))
    run(["rehearse", scen, "--json"], exit_code=None)
    assert "profile" not in run(["rehearse", scen, "--json"], exit_code=None).stderr


def _interrupt(args, tmp_path):
    """Start pcilu, send SIGINT once it runs, return (exit code, stdout, stderr)."""
    code = ("import time, pcilu_cli.cli as c, pcilu_cli.cli.cmd_profiles as p\n"
            "orig = p.profiles.callback\n"
            "def slow(*a, **k):\n    open(%r, 'w').close()\n"
            # short sleeps: a SIGINT that lands between the file and the sleep's system call
            # does not interrupt that call; one 30 s sleep then hid it for 30 s
            "    for _ in range(600): time.sleep(0.05)\n"
            "p.profiles.callback = slow\n"
            "c.main(%r)\n") % (str(tmp_path / "started"), args)
    # a shell's background job starts with SIGINT ignored, and Python keeps an ignored SIGINT
    # ignored: give the child the default disposition a terminal's foreground job has
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=child_env(),
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 30
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=30)
    return child.returncode, out, err


def test_ctrl_c_is_one_pcilu_line_and_exit_130(tmp_path):
    code, out, err = _interrupt(["profiles"], tmp_path)
    assert code == 130
    assert err.splitlines() == [ln for ln in err.splitlines() if ln.startswith("pcilu:")]
    assert len(err.splitlines()) == 1 and "interrupted" in err


def test_ctrl_c_with_json_still_prints_one_document(tmp_path):
    code, out, err = _interrupt(["profiles", "--json"], tmp_path)
    assert code == 130
    doc = json.loads(out)
    assert doc["kind"] == "error" and doc["exit_code"] == 130


def test_a_panicking_kexec_says_next_was_written_panicked(tmp_path):
    s0, s1 = tmp_path / "g0.elf", tmp_path / "g1.elf"
    run(["init", QEMU, "-o", s0, "--profile", "v8"])
    run(["preserve", s0, NIC])
    r = run(["kexec", s0, "-o", s1, "--profile", "v9"], exit_code=5)
    assert str(s1) in r.stderr and "panicked generation 1" in r.stderr
    assert run(["inspect", s1, "--json"]).json()["phase"] == "panicked"


def test_wrong_type_messages_say_what_the_file_is(gen1, tmp_path):
    r = run(["init", SCEN, "-o", tmp_path / "x.elf"], exit_code=3)
    assert "rehearsal scenario" in r.stderr and "pcilu rehearse" in r.stderr
    view = tmp_path / "view"
    pcilu.load(gen1).export(view)
    blob = next((view / "flb").rglob("*.bin"))
    r = run(["init", blob, "-o", tmp_path / "y.elf"], exit_code=3)
    assert "binary data" in r.stderr and "pcilu inspect" in r.stderr
    r = run(["encode", gen1, "-o", tmp_path / "z.bin"], exit_code=3)
    assert "state file" in r.stderr and "encode spec" in r.stderr
    assert not list(tmp_path.glob("[xyz].*"))


def test_plurals_read_right(tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text('pcilu_fabric: 1\nname: one\nnodes:\n  "0000:00:00.0":\n    parent: null\n'
                   "    kind: host_bridge\n    vendor: 0x8086\n    device: 0x29c0\n")
    r = run(["init", one, "-o", tmp_path / "g.elf"])
    assert "1 of 1 function enumerated" in r.stdout
    shown = run(["fabric", "show", one]).stdout
    assert "(1 function)" in shown


# ---- 12: documented keys always present; no binary to a terminal ---------------------------------

def test_state_json_always_has_both_pci_ser_keys(gen0):
    doc = run(["inspect", gen0, "--json"]).json()
    assert set(doc["pci_ser"]) >= {"outgoing", "incoming"}
    assert doc["pci_ser"]["outgoing"] is None and doc["pci_ser"]["incoming"] is None


def test_generate_refuses_binary_to_a_terminal(tmp_path):
    master, slave = pty.openpty()
    try:
        p = subprocess.run([sys.executable, "-m", "pcilu_cli", "generate", "-n", "8", "-o", "-"],
                           stdout=slave, stderr=subprocess.PIPE, text=True, timeout=60,
                           env=child_env())
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    try:
        got = os.read(master, 65536)
    except (BlockingIOError, OSError):
        got = b""
    os.close(master)
    assert p.returncode == 2 and "terminal" in p.stderr
    assert b"PCILUFAB" not in got
    piped = subprocess.run([sys.executable, "-m", "pcilu_cli", "generate", "-n", "8", "-o", "-"],
                           capture_output=True, timeout=60, env=child_env())
    assert piped.returncode == 0 and piped.stdout.startswith(b"PCILUFAB")


@pytest.mark.parametrize("view", ["text", "--json", "--hex"])
def test_output_cut_short_by_the_reader_is_quiet_exit_141_not_a_bug(view, tmp_path):
    """`pcilu inspect big.bin | head`: the reader goes away; pcilu stops writing, prints
    nothing more, and exits 141 (128 + SIGPIPE, as a shell reports it), never 1 (a bug)."""
    from pcilu_cli.abi import pci
    blob = tmp_path / "big.bin"
    blob.write_bytes(pci.encode_pci_ser("v6", [(s, 0, s, 1) for s in range(60_000)]))
    args = ["inspect", str(blob), "--profile", "v6"] + ([] if view == "text" else [view])
    child = subprocess.Popen([sys.executable, "-m", "pcilu_cli", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=child_env())
    assert len(child.stdout.read(100)) == 100
    child.stdout.close()                         # what `head -c 100` does
    err = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141 and err == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("view", ["text", "--json", "stored document", "unbuffered"])
def test_output_onto_a_full_disk_is_one_line_exit_3_not_a_bug(view, gen1):
    """`pcilu enumerate gen1.elf --json > out.json` on a full disk (``/dev/full`` answers every
    write with ENOSPC): the output stops, one line on stderr names stdout, exit 3 — no
    traceback, no JSON error document after the half-written one, no complaint at exit."""
    args = {"text": ["fabric", "show", QEMU], "--json": ["fabric", "show", QEMU, "--json"],
            "stored document": ["enumerate", gen1, "--json"],
            "unbuffered": ["fabric", "show", QEMU, "--json"]}[view]
    env = child_env()
    env.pop("PYTHONUNBUFFERED", None)
    if view == "unbuffered":
        env["PYTHONUNBUFFERED"] = "1"
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "pcilu_cli", *map(str, args)], stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=60, env=env)
    assert p.returncode == 3, p.stderr
    assert p.stderr.splitlines() == ["pcilu: error: <stdout>: the output could not be "
                                     "written: No space left on device"]
