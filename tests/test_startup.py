# SPDX-License-Identifier: GPL-2.0-only
"""Start-up, held structurally (no timing): what a CI step's ``pcilu inspect --json`` or
``pcilu enumerate --json`` loads beyond ``import click``, and what ``pcilu --help`` loads.

Each command runs in a fresh interpreter, started the way the console script starts it
(``main()`` reading ``sys.argv``); at exit the child writes down the modules it loaded and the
pcilu classes that are dataclasses (a dataclass's methods are generated at import, ~1 ms
each). A regression names the module that came back.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from pcilu_cli.cli import COMMANDS, SUMMARIES, cli
from tests.pcilu_run import ROOT, child_env, run

SMALL_BLOB = ROOT / "fixtures" / "golden" / "pci" / "pci_ser_v6_example.bin"
SMALL_FABRIC = ROOT / "fixtures" / "fabrics" / "qemu-virtio-net.yaml"

CHILD = """\
import atexit, json, sys
out = sys.argv.pop(1)

def record():
    mods = sorted(sys.modules)
    dcs = sorted(f"{m}.{n}" for m in mods if m.startswith("pcilu_cli")
                 for n, v in list(vars(sys.modules[m]).items())
                 if isinstance(v, type) and "__dataclass_fields__" in v.__dict__
                 and v.__module__ == m)
    with open(out, "w") as f:
        json.dump({"modules": mods, "dataclasses": dcs}, f)

atexit.register(record)
if sys.argv[1:] == ["--baseline"]:
    import click
else:
    sys.argv[0] = "pcilu"
    from pcilu_cli.cli import main
    main()
"""

# never on these paths: the heavy libraries, the layers and commands they do not use, and the
# slow ways of finding package data or the version
ALWAYS_OFF = ("construct", "yaml", "rich", "dataclasses", "importlib.metadata",
              "importlib.resources", "pkg_resources", "pcilu_cli.rehearsal",
              "pcilu_cli.cli.html_report", "pcilu_cli.fabric.yamlfmt",
              "pcilu_cli.fabric.function_spec")


def _loaded(tmp_path: Path, *args) -> dict:
    out = tmp_path / f"modules-{len(list(tmp_path.iterdir()))}.json"
    p = subprocess.run([sys.executable, "-c", CHILD, str(out), *map(str, args)],
                       capture_output=True, text=True, env=child_env(), cwd=tmp_path,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    doc["stdout"] = p.stdout
    return doc


@pytest.fixture(scope="module")
def click_floor(tmp_path_factory) -> set:
    """What ``import click`` alone loads here (site, the editable-install finder, ...)."""
    return set(_loaded(tmp_path_factory.mktemp("floor"), "--baseline")["modules"])


def _off_the_path(extra: set, off) -> list[str]:
    return sorted(m for m in extra if any(m == o or m.startswith(o + ".") for o in off))


def test_inspect_json_of_a_small_blob_loads_only_the_decoder(tmp_path, click_floor):
    doc = _loaded(tmp_path, "inspect", SMALL_BLOB, "--json")
    assert json.loads(doc["stdout"])["devices"], doc["stdout"]     # it did decode the blob
    extra = set(doc["modules"]) - click_floor
    off = ALWAYS_OFF + ("pcilu_cli.kernel", "pcilu_cli.memory", "pcilu_cli.fabric",
                        "pcilu_cli.state.machine", "pcilu_cli.state.kernel_note")
    assert _off_the_path(extra, off) == []
    assert sorted(m for m in extra if m.startswith("pcilu_cli.cli.cmd_")) == \
        ["pcilu_cli.cli.cmd_inspect"]
    assert doc["dataclasses"] == []


@pytest.fixture(scope="module")
def small_state(tmp_path_factory) -> Path:
    state = tmp_path_factory.mktemp("state") / "gen0.elf"
    run(["init", SMALL_FABRIC, "-o", state])
    return state


@pytest.mark.parametrize("command", [["enumerate", "--json"], ["preserve", "0000:01:00.0"]],
                         ids=["enumerate", "preserve"])
def test_a_kernel_command_on_a_small_state_loads_no_click_construct_yaml_or_rehearsal(
        tmp_path, click_floor, small_state, command):
    """The plain command lines of a rehearsal run on the fast path (cli/fastpath.py): not
    even click is imported."""
    state = tmp_path / "gen0.elf"
    shutil.copyfile(small_state, state)
    doc = _loaded(tmp_path, command[0], state, *command[1:])
    if command[0] == "enumerate":
        assert json.loads(doc["stdout"])["devices"], doc["stdout"]
    extra = set(doc["modules"]) - click_floor
    assert _off_the_path(extra, ALWAYS_OFF) == []
    # nor typing (~3 ms): pcilu's own modules spell TYPE_CHECKING without it; nor pathlib
    # (~4 ms with urllib.parse and ipaddress): the state store spells paths with os.path, and
    # `make setup`'s editable install is a path entry, not setuptools' finder (pyproject.toml)
    assert _off_the_path(set(doc["modules"]),
                         ("click", "pcilu_cli.cli.group", "typing", "pathlib")) == []
    assert "pcilu_cli.cli.kernel_actions" in extra
    assert sorted(m for m in extra if m.startswith("pcilu_cli.cli.cmd_")) == []
    assert doc["dataclasses"] == []


def test_a_kernel_command_line_the_fast_path_leaves_to_click_imports_its_command(
        tmp_path, click_floor, small_state):
    state = tmp_path / "gen0.elf"
    shutil.copyfile(small_state, state)
    doc = _loaded(tmp_path, "enumerate", state, "--json", "--debug")   # --debug: click's
    extra = set(doc["modules"]) - click_floor
    assert "click" in doc["modules"]
    assert _off_the_path(extra, ALWAYS_OFF) == []
    assert sorted(m for m in extra if m.startswith("pcilu_cli.cli.cmd_")) == \
        ["pcilu_cli.cli.cmd_kernel"]


def test_help_lists_every_command_without_importing_one(tmp_path, click_floor):
    doc = _loaded(tmp_path, "--help")
    for name in COMMANDS:
        assert f"  {name} " in doc["stdout"], name
    extra = set(doc["modules"]) - click_floor
    assert sorted(m for m in extra if m.startswith("pcilu_cli.cli.cmd_")) == []
    assert _off_the_path(extra, ALWAYS_OFF) == []


def _real_commands() -> dict:
    ctx = click.Context(cli)
    return {name: cli.get_command(ctx, name) for name in COMMANDS}


def test_the_summary_table_is_each_commands_own_first_sentence():
    real = _real_commands()
    assert set(SUMMARIES) == set(COMMANDS), "add the command's summary line to SUMMARIES"
    for name, cmd in real.items():
        assert not cmd.hidden and cmd.short_help is None, name
        assert SUMMARIES[name] == cmd.get_short_help_str(10 ** 6), name


@pytest.mark.parametrize("width", [60, 80, 100, 200])
def test_help_lists_the_commands_as_click_would_from_the_commands_themselves(width):
    def command_list(group):
        ctx = click.Context(group, info_name="pcilu", max_content_width=width)
        formatter = ctx.make_formatter()
        formatter.width = width
        group.format_commands(ctx, formatter)
        return formatter.getvalue()

    eager = click.Group("pcilu", commands=_real_commands())
    assert command_list(cli) == command_list(eager)
    assert command_list(cli).count("\n") == len(COMMANDS) + 1     # heading + one per command


def test_an_in_process_caller_keeps_a_working_collector():
    """The console script freezes the heap before the interpreter exits (its collections at
    exit then have nothing to walk); a caller that runs ``main(args)`` in its own process
    (tests, scripts) keeps its collector as it was."""
    import gc
    before = gc.get_freeze_count(), gc.isenabled()
    run(["inspect", SMALL_BLOB, "--json"])
    assert (gc.get_freeze_count(), gc.isenabled()) == before
