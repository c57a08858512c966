# SPDX-License-Identifier: GPL-2.0-only
"""The command-line contract as a CI script relies on it (README "Exit codes", "JSON output").

Every reporting command with ``--json`` prints exactly one JSON document with a "kind" on stdout
— also on failure, usage errors included; stderr lines start with "pcilu:"; human output has no
escape codes when piped or under NO_COLOR and is not wrapped at 80 columns; ``-q`` silences
notices and ``--strict`` promotes warnings; bad input of every kind is one line and exit 3.
Small fabrics, in-process (tests/pcilu_run.py), except one real subprocess for the pipe case.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pcilu
from tests.pcilu_run import run

ROOT = Path(__file__).resolve().parents[1]
FAB = ROOT / "fixtures" / "fabrics"
QEMU = FAB / "qemu-virtio-net.yaml"
SRIOV = FAB / "sriov.yaml"
SCEN = ROOT / "fixtures" / "scenarios" / "qemu-virtio-net.yaml"
NIC = "0000:01:00.0"
ESC = "\x1b"


def run_any(args, input=None):
    """Like tests.pcilu_run.run, minus its assumption that every exit 2 is click's "Error:"
    usage text (pcilu's own usage errors are one "pcilu: error:" line)."""
    from click.testing import CliRunner

    from pcilu_cli.cli import main
    from tests.pcilu_run import Result
    with CliRunner().isolation(input=input) as streams:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        res = Result(code, streams[0].getvalue().decode(), streams[1].getvalue().decode())
    assert "Traceback" not in res.stdout + res.stderr
    return res


def one_json(res, kind=None):
    """stdout is exactly one JSON document (one line) with a "kind"."""
    lines = res.stdout.splitlines()
    assert len(lines) == 1, res.stdout
    doc = json.loads(lines[0])
    assert "kind" in doc, doc
    if kind is not None:
        assert doc["kind"] == kind, doc
    return doc


def stderr_lines_ok(res):
    for ln in res.stderr.splitlines():
        assert ln.startswith("pcilu:"), res.stderr


@pytest.fixture(scope="module")
def gens(tmp_path_factory):
    """gen0 (NIC preserved) and gen1 (kexec'd, NIC incoming) of the QEMU fabric."""
    d = tmp_path_factory.mktemp("gens")
    g0, g1 = d / "gen0.elf", d / "gen1.elf"
    run(["init", QEMU, "-o", g0, "-q"])
    run(["preserve", g0, NIC, "-q"])
    run(["kexec", g0, "-o", g1, "-q"])
    pcilu.load(g0).export(d / "exp0")
    return d


def fresh(gens, tmp_path, name="gen0.elf"):
    p = tmp_path / name
    p.write_bytes((gens / name).read_bytes())
    return p


# ---- JSON: one document with a kind, on success and on every kind of failure -----------------

def test_json_success_documents_have_their_kind(gens, tmp_path):
    g0, g1 = fresh(gens, tmp_path), fresh(gens, tmp_path, "gen1.elf")
    blob = gens / "exp0" / "flb" / "pci-v3.bin"
    cases = [
        (["enumerate", g1, "--json"], "enumerate"),
        (["kexec", g0, "-o", tmp_path / "k.elf", "--json"], "kexec"),
        (["init", QEMU, "-o", tmp_path / "i.elf", "--json"], "init"),
        (["inspect", blob, "--json"], "pci_ser"),
        (["inspect", g1, "--json"], "state"),
        (["fabric", "show", QEMU, "--json"], "fabric"),
        (["profiles", "--json"], "profiles"),
        (["diff", g0, g1, "--json"], "diff"),
        (["finish", g1, NIC, "--json"], "finish"),
        (["unpreserve", g0, NIC, "--json"], "unpreserve"),
        (["preserve", g0, NIC, "--json"], "preserve"),
        (["generate", "-n", "8", "-o", tmp_path / "s.fab", "--json"], "generate"),
    ]
    for args, kind in cases:
        res = run(args)
        one_json(res, kind)
        stderr_lines_ok(res)


@pytest.mark.parametrize("args,code", [
    (["enumerate", "--json"], 2),                             # missing argument (click)
    (["enumerate", "{g0}", "--json", "--no-such-option"], 2),
    (["inspect", "{g0}", "--json", "--profile", "v99"], 2),   # bad choice (click)
    (["preserve", "{g0}", "--json"], 2),                      # BDF... missing
    (["enumerate", "{tmp}/missing.elf", "--json"], 3),
    (["enumerate", str(QEMU), "--json"], 3),                  # a YAML given as a state
    (["preserve", "{g0}", "zz:zz.z", "--json"], 3),
    (["preserve", "{g0}", "0001:00:00.0", "--json"], 3),      # a domain with no function
    (["preserve", "{g0}", NIC, "--json"], 4),                 # already preserved: -EBUSY
    (["inspect", str(QEMU), "--json"], 3),                    # text given to inspect
    (["generate", "-n", "0", "-o", "{tmp}/x.fab", "--json"], 2),
])
def test_json_failure_is_one_error_document(gens, tmp_path, args, code):
    g0 = fresh(gens, tmp_path)
    args = [a.format(g0=g0, tmp=tmp_path) for a in args]
    # exit_code=None: pcilu's own usage errors (exit 2) are "pcilu: error:" lines, which
    # pcilu_run's click-only check for exit 2 does not know
    res = run_any(args)
    assert res.exit_code == code, res
    doc = one_json(res, "error")
    assert doc["exit_code"] == code
    assert doc["message"]


# ---- bad input: one line, exit 3, never a traceback ------------------------------------------

@pytest.mark.parametrize("what", ["missing", "directory", "empty", "garbage", "yaml", "json"])
@pytest.mark.parametrize("cmd", ["enumerate", "preserve", "kexec", "export", "finish",
                                 "hot-add", "inspect", "encode", "init", "fabric show", "diff",
                                 "rehearse"])
def test_bad_input_of_every_kind(tmp_path, gens, cmd, what):
    bad = {"missing": tmp_path / "nope", "directory": tmp_path / "d",
           "empty": tmp_path / "empty", "garbage": tmp_path / "garbage.bin",
           "yaml": tmp_path / "fabric.yaml", "json": tmp_path / "spec.json"}[what]
    # a copy: read-modify-write commands leave a STATE.lock beside what they were given
    (tmp_path / "fabric.yaml").write_bytes(QEMU.read_bytes())
    (tmp_path / "d").mkdir()
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "garbage.bin").write_bytes(bytes(range(7, 250)) * 9)
    (tmp_path / "spec.json").write_text('{"devices": []}')
    g0 = fresh(gens, tmp_path)
    args = {"enumerate": ["enumerate", bad], "preserve": ["preserve", bad, NIC],
            "kexec": ["kexec", bad, "-o", tmp_path / "n.elf"],
            "export": ["export", bad, "-o", tmp_path / "x"], "finish": ["finish", bad, NIC],
            "hot-add": ["hot-add", bad], "inspect": ["inspect", bad],
            "encode": ["encode", bad, "-o", tmp_path / "b.bin"],
            "init": ["init", bad, "-o", tmp_path / "i.elf"],
            "fabric show": ["fabric", "show", bad], "diff": ["diff", bad, g0],
            "rehearse": ["rehearse", bad]}[cmd]
    accepted = {("init", "yaml"), ("fabric show", "yaml"), ("encode", "json")}
    res = run(args, exit_code=0 if (cmd, what) in accepted else 3)
    stderr_lines_ok(res)


def test_text_given_to_inspect_says_which_command_reads_it(tmp_path):
    res = run(["inspect", QEMU], exit_code=3)
    assert "text file" in res.stderr and "pcilu init" in res.stderr
    assert "max_nr_devices" not in res.stderr        # no decoding of YAML as a pci_ser


def test_vf_refused_and_state_unchanged(tmp_path):
    st = tmp_path / "sr.elf"
    run(["init", SRIOV, "-o", st, "-q"])
    vf = [d["bdf"] for d in run(["enumerate", st, "--json"]).json()["devices"]
          if d["kind"] == "vf"][0]
    before = st.read_bytes()
    res = run(["preserve", st, vf, "--json"], exit_code=4)
    assert one_json(res, "error")["errno"] == "EINVAL"
    assert st.read_bytes() == before


def test_panicked_generation(tmp_path):
    """A kexec whose next kernel panics (here: a PCI FLB version mismatch) exits 5 and writes
    the panicked state; enumerate of it prints ONE JSON document (the report, with its
    "panic") and exits 5; kexec/preserve of a panicked state exit 5 without a traceback."""
    panicking = [c for c in run(["profiles", "--matrix", "--json"]).json()["cells"]
                 if c["outcome"] == "panic"]
    if not panicking:
        pytest.skip("no profile pair panics")
    src, dst = panicking[0]["from"], panicking[0]["to"]
    g0, g1 = tmp_path / "g0.elf", tmp_path / "g1.elf"
    run(["init", QEMU, "-o", g0, "-q", "--profile", src])
    run(["preserve", g0, NIC, "-q"])
    res = run(["kexec", g0, "-o", g1, "--profile", dst, "--json"], exit_code=5)
    assert one_json(res, "error")["panic"]
    assert g1.exists()
    res = run(["enumerate", g1, "--json"], exit_code=5)
    doc = one_json(res, "enumerate")
    assert doc["panic"] and doc["phase"] == "panicked"
    res = run(["kexec", g1, "-o", tmp_path / "g2.elf", "--json"], exit_code=5)
    one_json(res, "error")
    assert not (tmp_path / "g2.elf").exists()
    run(["preserve", g1, NIC], exit_code=5)


# ---- warnings, -q, --strict ------------------------------------------------------------------

def test_void_kernel_operations_warn_and_strict_fails_without_change(gens, tmp_path):
    g0 = fresh(gens, tmp_path)            # nothing is incoming in generation 0
    res = run(["finish", g0, NIC])
    assert "pcilu: warning:" in res.stderr and "Cannot finish" in res.stderr
    assert "finished" not in res.stdout.split()[0]
    assert run(["-q", "finish", g0, NIC]).stderr == ""
    before = g0.read_bytes()
    res = run(["finish", g0, NIC, "--strict", "--json"], exit_code=3)
    one_json(res, "error")
    assert g0.read_bytes() == before


def test_quiet_silences_notices(gens, tmp_path):
    out = tmp_path / "b.bin"
    assert "wrote" in run(["encode", "-", "-o", out], input='{"devices": []}').stderr
    assert run(["encode", "-", "-o", out, "-q"], input='{"devices": []}').stderr == ""
    blob = gens / "exp0" / "flb" / "pci-v3.bin"
    assert "no --profile" in run(["inspect", blob]).stderr
    assert run(["inspect", blob, "-q"]).stderr == ""


def test_kexec_refuses_a_known_file_that_is_no_blob(tmp_path):
    # a fabric given as the FLB blob: the format table knows it is text, so nothing boots
    res = run(["kexec", "--fabric", QEMU, "--flb", QEMU, "-o", tmp_path / "n.elf"],
              exit_code=3)
    assert "a text file" in res.stderr and "not a raw struct pci_ser blob" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "n.elf").exists()


def test_kexec_from_bytes_of_no_known_format_warns(tmp_path):
    blob = tmp_path / "noise.bin"
    blob.write_bytes(b"\xff" * 100)       # no layout fits: the kernel boots it anyway
    res = run(["kexec", "--fabric", QEMU, "--flb", blob, "-o", tmp_path / "n.elf"])
    assert "pcilu: warning:" in res.stderr
    res = run(["--strict", "kexec", "--fabric", QEMU, "--flb", blob, "-o", tmp_path / "s.elf"],
              exit_code=3)
    assert not (tmp_path / "s.elf").exists()


# ---- stdin / stdout --------------------------------------------------------------------------

def test_dash_is_stdin_and_stdout(gens):
    spec = json.dumps({"max_nr_devices": 4, "devices": [
        {"slot": 0, "bdf": NIC, "refcount": 1}, {"slot": 2, "bdf": "0000:00:01.0",
                                                  "refcount": 1}]})
    enc = run(["encode", "-", "-o", "-", "-q"], input=spec)
    # the in-process runner decodes stdout; this blob is ASCII-safe except zeros
    blob = enc.stdout.encode("utf-8")
    assert len(blob) == 8 + 8 * 4
    doc = one_json(run(["inspect", "-", "--json", "-q"], input=blob), "pci_ser")
    assert [d["bdf"] for d in doc["devices"]] == [NIC, "0000:00:01.0"]
    assert [d["slot"] for d in doc["devices"]] == [0, 2]
    fab = one_json(run(["fabric", "show", "-", "--json"], input=QEMU.read_text()), "fabric")
    assert fab["name"]


# ---- human output: no escape codes, no wrapping, linear -------------------------------------

def _plain(res):
    assert ESC not in res.stdout and ESC not in res.stderr
    for ln in res.stdout.splitlines():
        assert ln == ln.rstrip(), repr(ln)


def test_human_output_is_plain_and_unwrapped(gens, tmp_path):
    g1 = fresh(gens, tmp_path, "gen1.elf")
    env = {"COLUMNS": None, "NO_COLOR": "1"}
    res = run(["enumerate", g1], env=env)
    _plain(res)
    head = res.stdout.splitlines()[1].split()
    assert head[:3] == ["BDF", "kind", "in"]
    nic = [ln for ln in res.stdout.splitlines() if ln.startswith(NIC)]
    assert len(nic) == 1 and "yes" in nic[0].split()          # one line per device
    # the first line names the (long) temporary file; kernel log lines are never wrapped
    assert all(len(ln) <= 80 for ln in res.stdout.splitlines()[1:] if not ln.startswith("  "))
    res = run(["profiles"], env=env)
    _plain(res)
    assert all(len(ln) <= 80 for ln in res.stdout.splitlines())
    assert any(ln.startswith("v6*") for ln in res.stdout.splitlines())
    res = run(["--color", "always", "enumerate", g1], env={"NO_COLOR": "1"})
    assert ESC not in res.stdout


def test_color_always_colours_and_never_does_not(gens, tmp_path):
    g1 = fresh(gens, tmp_path, "gen1.elf")
    assert ESC in run(["enumerate", g1, "--color", "always"], env={"NO_COLOR": None}).stdout
    assert ESC not in run(["enumerate", g1, "--color", "never"]).stdout


def test_piped_subprocess_has_no_escape_codes(gens, tmp_path):
    g1 = fresh(gens, tmp_path, "gen1.elf")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR",
                                                             "FORCE_COLOR")}
    p = subprocess.run([sys.executable, "-m", "pcilu_cli", "enumerate", str(g1)],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr
    assert ESC not in p.stdout and "Device was preserved" in p.stdout


def test_big_fabric_hides_untouched_functions(tmp_path):
    """Above 64 functions enumerate lists only what Live Update touched; --all lists every
    function, one line each."""
    fab, g0, g1 = tmp_path / "h.fab", tmp_path / "g0.elf", tmp_path / "g1.elf"
    run(["generate", "-n", "300", "-o", fab, "-q"])
    run(["init", fab, "-o", g0, "-q"])
    devs = run(["enumerate", g0, "--json"]).json()["devices"]
    ep = next(d["bdf"] for d in devs if d["kind"] in ("endpoint", "pf"))
    run(["preserve", g0, ep, "-q"])
    run(["kexec", g0, "-o", g1, "-q"])
    short = run(["enumerate", g1]).stdout.splitlines()
    rows = [ln for ln in short if ln[:4].isalnum() and ln[4:5] == ":"]
    incoming = [d["bdf"] for d in run(["enumerate", g1, "--json"]).json()["devices"]
                if d["incoming"]]
    assert sorted(ln.split()[0] for ln in rows) == sorted(incoming)
    assert any("not shown" in ln for ln in short)
    full = [ln for ln in run(["enumerate", g1, "--all"]).stdout.splitlines()
            if ln[:4].isalnum() and ln[4:5] == ":"]
    assert len(full) == len(devs)


# ---- help ------------------------------------------------------------------------------------

COMMANDS = ["fabric show", "fabric export", "init", "preserve", "unpreserve", "kexec",
            "enumerate", "finish", "hot-remove", "hot-add", "export", "inspect", "encode",
            "profiles", "rehearse", "diff", "generate"]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_help_with_an_example_within_80_columns(cmd):
    res = run(cmd.split() + ["--help"], env={"COLUMNS": None})
    assert "Example" in res.stdout, res.stdout
    long = [ln for ln in res.stdout.splitlines() if len(ln) > 80]
    assert not long, long
