# SPDX-License-Identifier: GPL-2.0-only
"""The fast path (pcilu_cli/cli/fastpath.py): the common command lines of a rehearsal run
without click, and must mean exactly what they mean to click.

Held three ways: every command line it takes parses to the values click's own command gives
(a hypothesis search over the options' spellings, and its tables against the click
declarations); the command lines it must take, it takes; and whole rehearsals run both ways
— the fast path, and click with the fast path switched off — print the same bytes, exit the
same and write the same state files, failures and interruptions included.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import click
import pytest
from hypothesis import given, settings, strategies as st

from pcilu_cli.cli import fastpath
from tests.pcilu_run import ROOT, run

QEMU = ROOT / "fixtures" / "fabrics" / "qemu-virtio-net.yaml"
NIC = "0000:01:00.0"
PORT = "0000:00:01.0"


def _click_command(name: str) -> click.Command:
    from pcilu_cli.cli.group import cli
    return cli.get_command(click.Context(cli), name)


def _click_params(args: list[str]) -> dict:
    """What click's command passes to its function for ``pcilu ARGS``."""
    cmd = _click_command(args[0])
    with cmd.make_context(args[0], list(args[1:])) as ctx:
        return dict(ctx.params)


# ---- the parser ------------------------------------------------------------------------------

TAKEN = [
    ["init", "host.yaml", "-o", "gen0.elf"],
    ["init", "host.yaml", "--output", "gen0.elf", "--json"],
    ["init", "--output=gen0.elf", "host.yaml"],
    ["preserve", "gen0.elf", NIC],
    ["preserve", "gen0.elf", NIC, "0000:02:00.0", "--session", "vm42", "--json"],
    ["preserve", "gen0.elf", "--session=bench-000", NIC, "--wait", "2.5"],
    ["preserve", "gen0.elf", "--session", "auto", NIC],
    ["finish", "gen1.elf", NIC, PORT],
    ["finish", "gen1.elf", NIC, "--json", "--wait=0"],
    ["kexec", "gen0.elf", "-o", "gen1.elf"],
    ["kexec", "-o", "gen1.elf", "gen0.elf", "--json"],
    ["enumerate", "gen1.elf", "--json"],
    ["enumerate", "--json", "gen1.elf"],
]


@pytest.mark.parametrize("args", TAKEN, ids=[" ".join(a) for a in TAKEN])
def test_the_common_command_lines_are_taken_with_clicks_values(args):
    call = fastpath.parse(args, environ={})
    assert call is not None
    assert call == (args[0], _click_params(args))


LEFT = [
    [],
    ["--version"],
    ["-q", "preserve", "gen0.elf", NIC],             # a global option (hoisted to the front)
    ["inspect", "blob.bin", "--json"],
    ["unpreserve", "gen0.elf", NIC],
    ["enumerate", "gen1.elf"],                       # the text form
    ["enumerate", "gen1.elf", "--json", "--debug"],
    ["preserve", "gen0.elf"],                        # no BDF: click's usage error (or selectors)
    ["preserve", "gen0.elf", "--all"],
    ["preserve", "gen0.elf", NIC, "-h"],
    ["preserve", "gen0.elf", NIC, "--session"],      # no value
    ["preserve", "gen0.elf", NIC, "--session", "--json"],   # a value click reads as it is
    ["preserve", "gen0.elf", NIC, "--session", "a", "--session", "b"],
    ["preserve", "gen0.elf", NIC, "--wait", "-1"],
    ["preserve", "gen0.elf", NIC, "--wait", "1e3"],
    ["preserve", "gen0.elf", NIC, "--wait", "nan"],
    ["preserve", "gen0.elf", NIC, "--token", "7"],
    ["preserve", "gen0.elf", NIC, "--json=1"],
    ["preserve", "gen0.elf", "--", NIC],
    ["init", "-", "-o", "gen0.elf"],                 # stdin
    ["init", "host.yaml"],                           # -o is required
    ["init", "host.yaml", "-ogen0.elf"],
    ["init", "host.yaml", "-o", "a", "--output", "b"],
    ["init", "a.yaml", "b.yaml", "-o", "gen0.elf"],
    ["kexec", "-o", "gen1.elf"],                     # no STATE: click (or --fabric/--flb)
    ["kexec", "gen0.elf", "-o", "gen1.elf", "--profile", "v6"],
    ["finish", "gen1.elf", NIC, "--session", "x"],   # finish has no --session
]


@pytest.mark.parametrize("args", LEFT, ids=[" ".join(a) or "(none)" for a in LEFT])
def test_any_other_command_line_is_left_to_click(args):
    assert fastpath.parse(args, environ={}) is None


@pytest.mark.parametrize("var", fastpath.CLICK_ENVIRONMENT)
def test_what_click_reads_from_the_environment_leaves_the_command_line_to_click(var):
    args = ["preserve", "gen0.elf", NIC]
    assert fastpath.parse(args, environ={}) is not None
    assert fastpath.parse(args, environ={var: "1"}) is None


WORDS = ["gen0.elf", NIC, "0000:02:00.0", "", "x y", "-o", "--output", "--output=n.elf",
         "--json", "--json=1", "--session", "--session=s", "vm42", "auto", "--wait",
         "--wait=3", "5", "2.5", "007", "-1", "1e3", "nan", ".5", "5.", "--token", "7",
         "--dry-run", "--all", "-s", "01:00", "--debug", "--tree", "--cmdline", "-p", "v6",
         "--profile=v6", "-", "--", "-h", "--help", "-q", "-ox", "--jso", "--fabric"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(fastpath.SPECS) + ["unpreserve"]),
       st.lists(st.sampled_from(WORDS), max_size=7))
def test_whatever_the_fast_path_takes_click_parses_to_the_same_values(command, words):
    args = [command, *words]
    call = fastpath.parse(args, environ={})
    if call is not None:
        assert call == (command, _click_params(args)), args


@pytest.mark.parametrize("name", sorted(fastpath.SPECS))
def test_each_table_is_its_click_commands_declaration(name):
    spec = fastpath.SPECS[name]
    cmd = _click_command(name)
    params = {p.name: p for p in cmd.params}
    args = [p.name for p in cmd.params if isinstance(p, click.Argument)]
    assert tuple(args) == spec.positional
    for spelling, (dest, kind) in spec.options.items():
        p = params[dest]
        assert isinstance(p, click.Option) and spelling in p.opts + p.secondary_opts
        assert p.is_flag == (kind == fastpath.FLAG), spelling
        assert not p.multiple and p.envvar is None, spelling
    # every parameter a command line does not set is passed at click's default: here, those
    # of the shortest command line (one word per positional, the required options)
    shortest = [name] + [f"w{k}" for k in range(len(spec.positional))]
    for dest in spec.required:
        spelling, kind = next((o, k) for o, (d, k) in spec.options.items() if d == dest)
        shortest += [spelling] if kind == fastpath.FLAG else [spelling, "v"]
    clicks = _click_params(shortest)
    assert set(spec.defaults) | set(spec.positional) | set(spec.required) == set(clicks)
    for dest, value in spec.defaults.items():
        if dest not in spec.required:
            assert clicks[dest] == value, dest


# ---- the same outcome both ways ----------------------------------------------------------------

def _both_ways(tmp_path, monkeypatch, steps, setup=None):
    """Run ``steps`` (each ``(args, exit_code)``) in two fresh directories, once on the fast
    path and once through click alone; return what each way printed and wrote."""
    outcomes = []
    for way in ("fast", "click"):
        d = tmp_path / way
        d.mkdir()
        monkeypatch.chdir(d)
        with monkeypatch.context() as m:
            if way == "click":
                m.setattr(fastpath, "parse", lambda args, environ=None: None)
            if setup is not None:
                setup(m)
            shutil.copyfile(QEMU, d / "host.yaml")
            printed = [(r.exit_code, r.stdout, r.stderr) for r in
                       (run(args, exit_code=code) for args, code in steps)]
        files = {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}
        outcomes.append((printed, files))
    return outcomes


CYCLE = [
    (["init", "host.yaml", "-o", "gen0.elf"], 0),
    (["preserve", "gen0.elf", NIC, "--session", "vm42"], 0),
    (["preserve", "gen0.elf", NIC, "--session", "vm42"], None),          # already preserved
    (["preserve", "gen0.elf", "0000:09:00.0", "--json"], None),          # no such device
    (["kexec", "gen0.elf", "-o", "gen0.elf"], 2),                        # STATE itself
    (["kexec", "gen0.elf", "-o", "gen1.elf", "--json"], 0),
    (["enumerate", "gen1.elf", "--json"], 0),
    (["finish", "gen1.elf", PORT], 0),                                   # a bridge: warns
    (["finish", "gen1.elf", NIC, "--json"], 0),
    (["init", "host.yaml", "--output", "again.elf", "--json"], 0),
    (["kexec", "again.elf", "-o", "next.elf"], 0),
    (["enumerate", "next.elf", "--json"], 0),
]


def test_a_rehearsal_prints_and_writes_the_same_both_ways(tmp_path, monkeypatch):
    fast, slow = _both_ways(tmp_path, monkeypatch, CYCLE)
    assert fast == slow
    printed, files = fast
    assert {"gen0.elf", "gen1.elf", "again.elf", "next.elf"} <= set(files)
    assert [code for code, _, _ in printed] == [0, 0, 4, 3, 2, 0, 0, 0, 0, 0, 0, 0]


def test_bad_input_and_escape_codes_come_out_the_same_both_ways(tmp_path, monkeypatch):
    steps = [
        (["init", "host.yaml", "-o", "gen0.elf"], 0),
        (["preserve", "host.yaml", NIC], 3),                   # not a state file
        (["preserve", "missing.elf", NIC], 3),
        (["enumerate", "host.yaml", "--json"], 3),
        (["init", "gen0.elf.nope", "-o", "x.elf"], 3),
        # a session name is the user's, but printed back: escape codes never reach a pipe
        (["preserve", "gen0.elf", NIC, "--session", "a\x1b[31mred"], None),
        (["kexec", "gen0.elf", "-o", "gen1.elf"], 0),
        (["finish", "gen1.elf", NIC], 0),
    ]
    fast, slow = _both_ways(tmp_path, monkeypatch, steps)
    assert fast == slow
    assert all("\x1b" not in out + err for _, out, err in fast[0])
    assert all(err.count("pcilu: error:") == 1 for code, _, err in fast[0] if code == 3)


@pytest.mark.parametrize("exc, code", [(KeyboardInterrupt, 130), (EOFError, 130),
                                        (BrokenPipeError, 141)],
                         ids=["ctrl-c", "eof", "closed-stdout"])
def test_an_interrupted_command_ends_the_same_both_ways(tmp_path, monkeypatch, exc, code):
    def setup(m):
        def interrupted(*a, **kw):
            raise exc()
        m.setattr("pcilu_cli.cli.kernel_actions.mutate", interrupted)
    steps = [(["init", "host.yaml", "-o", "gen0.elf"], 0),
             (["preserve", "gen0.elf", NIC, "--json"], None)]
    fast, slow = _both_ways(tmp_path, monkeypatch, steps, setup)
    assert fast == slow
    assert fast[0][1][0] == code
    assert sorted(fast[1]) == ["gen0.elf", "host.yaml"]      # nothing else written, no lock


def test_the_console_script_takes_the_fast_path(tmp_path):
    """``pcilu`` as a CI job starts it: the plain command lines never import click (the
    module list of such a start is held in tests/test_startup.py)."""
    import subprocess
    import sys
    from tests.pcilu_run import child_env
    code = ("import sys\nfrom pcilu_cli.cli import main\nsys.argv[0] = 'pcilu'\n"
            "try:\n    main()\nfinally:\n    print('click' in sys.modules, file=sys.stderr)\n")
    env = child_env()
    for var in fastpath.CLICK_ENVIRONMENT:
        env.pop(var, None)
    out = []
    for args in (["init", str(QEMU), "-o", "gen0.elf"], ["preserve", "gen0.elf", NIC],
                 ["preserve", "gen0.elf", PORT, "--token", "7"]):
        p = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
        out.append((p.returncode, p.stderr.splitlines()[-1]))
    # the third has an option the fast path leaves to click (and is refused: a bridge)
    assert out[0] == (0, "False") and out[1] == (0, "False")
    assert out[2][1] == "True"
    assert os.path.exists(tmp_path / "gen0.elf") and Path(tmp_path / "gen0.elf").stat().st_size
