# SPDX-License-Identifier: GPL-2.0-only
"""--strict for CI, and state files written by another pcilu (issue 8, parts 3 and 4).

Scenarios: a blob the kernel would accept but that is inconsistent gives a warning and exit 0,
and with --strict (or PCILU_STRICT=1) exactly one error line and exit 3; a state file whose
recorded format is newer or older than this pcilu's is refused with a message that says what
to do, never misread.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pcilu_cli.state.store import FORMAT_VERSION, READABLE_FORMATS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "fuzz"))
import targetlib as T  # noqa: E402


def _inconsistent_blob(tmp_path) -> Path:
    """v6 pci_ser: max_nr_devices 2, nr_devices says 3, one entry in use (kernel: no check)."""
    p = tmp_path / "blob.bin"
    p.write_bytes(struct.pack("<II", 2, 3) + struct.pack("<IHH", 0, 0x0100, 1) + bytes(8))
    return p


def _stderr_lines(res) -> list[str]:
    return [ln for ln in res.stderr.decode().splitlines() if ln.strip()]


def test_warning_is_exit_0_without_strict(tmp_path):
    blob = _inconsistent_blob(tmp_path)
    res = T.run_cli(["inspect", str(blob), "--profile", "v6", "--json"])
    assert res.code == 0
    doc = json.loads(res.stdout)
    assert doc["kind"] == "pci_ser" and doc["warnings"]
    lines = _stderr_lines(res)
    assert len(lines) == 1 and lines[0].startswith("pcilu: warning:") and "nr_devices" in lines[0]


def test_strict_turns_the_warning_into_one_error_line_and_exit_3(tmp_path):
    blob = _inconsistent_blob(tmp_path)
    res = T.run_cli(["--strict", "inspect", str(blob), "--profile", "v6", "--json"])
    assert res.code == 3
    lines = _stderr_lines(res)
    assert len(lines) == 1 and lines[0].startswith("pcilu: error:")
    assert str(blob) in lines[0] and "nr_devices" in lines[0]
    assert json.loads(res.stdout)["kind"] == "error"


def test_strict_from_the_environment(tmp_path):
    blob = _inconsistent_blob(tmp_path)
    r = subprocess.run([sys.executable, "-m", "pcilu_cli", "inspect", str(blob), "--profile",
                        "v6"], env=dict(os.environ, PCILU_STRICT="1"), capture_output=True,
                       timeout=60, cwd=REPO)
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr.decode()


def test_quiet_silences_the_warning_but_not_the_result(tmp_path):
    blob = _inconsistent_blob(tmp_path)
    res = T.run_cli(["-q", "inspect", str(blob), "--profile", "v6", "--json"])
    assert res.code == 0 and _stderr_lines(res) == []
    assert json.loads(res.stdout)["nr_devices"] == 3


# ---- a state file from another pcilu ----------------------------------------------------------

FABRIC = REPO / "fixtures" / "fabrics" / "emr-dsa-nvme.yaml"


def _state_with_format(tmp_path, new_format) -> Path:
    from pcilu_cli.memory import elfcore as elf
    state = tmp_path / "S.elf"
    r = T.run_cli(["init", str(FABRIC), "-o", str(state)])
    assert r.code == 0, r.stderr
    mem, notes = elf.read_elf_core(state.read_bytes())
    out, changed = [], False
    for name, ntype, desc in notes:
        if name == elf.NOTE_NAME and ntype == elf.NT_PCILU_METADATA:
            meta = json.loads(desc)
            keys = [k for k in meta if "format" in k]
            assert keys, f"the metadata note records no format version: {sorted(meta)}"
            for k in keys:
                meta[k] = new_format
            desc, changed = json.dumps(meta).encode(), True
        out.append((name, ntype, desc))
    assert changed, "no PCILU metadata note in the state file"
    state.write_bytes(elf.write_elf_core(mem, out))
    return state


@pytest.mark.parametrize("found,advice", [(FORMAT_VERSION + 1, "upgrade pcilu"),
                                          (min(READABLE_FORMATS) - 1, "pcilu init")])
@pytest.mark.parametrize("command", ["inspect", "enumerate"])
def test_state_from_another_format_is_refused_with_advice(tmp_path, found, advice, command):
    state = _state_with_format(tmp_path, found)
    res = T.run_cli([command, str(state)])
    lines = _stderr_lines(res)
    assert res.code == 3, lines
    assert len(lines) == 1 and advice in lines[0] and str(found) in lines[0]
