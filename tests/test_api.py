# SPDX-License-Identifier: GPL-2.0-only
"""The Python API (`import pcilu`): the worked example of docs/api.md runs as written, and the
promises the CLI makes hold in memory too (all or nothing, kexec leaves its machine as it was,
typed errors, the same documents as the CLI's --json)."""
from __future__ import annotations

import errno
import json
import re

import pytest

import pcilu
from tests.conftest import ROOT
from tests.pcilu_run import run

FABRIC = ROOT / "fixtures" / "fabrics" / "sriov.yaml"


def test_the_worked_example_in_docs_api_md_runs(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "api.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert blocks, "docs/api.md has no python example"
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, "docs/api.md", "exec"), {"__name__": "docs_api_example"})
    assert (tmp_path / "gen1.elf").is_file()


def _pf_and_vf(m):
    devs = m.enumerate()["devices"]
    pf = next(d["bdf"] for d in devs if d["kind"] == "pf")
    vf = next(d["bdf"] for d in devs if d["kind"] == "vf")
    return pf, vf


def test_several_bdfs_are_all_or_nothing():
    m = pcilu.init(FABRIC)
    pf, vf = _pf_and_vf(m)
    before = m.enumerate()
    with pytest.raises(pcilu.KernelRefusal) as exc:
        m.preserve(pf, vf)                      # the PF would do; the VF is refused
    assert exc.value.errno == errno.EINVAL and exc.value.exit_code == 4
    assert m.enumerate()["devices"] == before["devices"]
    assert m.preserve(pf)["results"][0]["bdf"] == pf     # still a working generation


def test_kexec_leaves_the_machine_it_was_called_on_as_it_was():
    m = pcilu.init(FABRIC)
    pf, _ = _pf_and_vf(m)
    m.preserve(pf)
    before = m.to_bytes()
    a = m.kexec()
    b = m.kexec(cmdline="pci=noari")             # a second kexec of the same generation
    assert m.to_bytes() == before
    assert a.generation == b.generation == 1
    assert any(d["bdf"] == pf and d["incoming"] for d in b.enumerate()["devices"])


def test_unknown_bdf_is_bad_input():
    m = pcilu.init(FABRIC)
    with pytest.raises(pcilu.BadInput) as exc:
        m.preserve("0000:7f:1f.7")
    assert exc.value.exit_code == 3 and exc.value.field == "BDF"
    with pytest.raises(pcilu.BadInput):
        m.preserve()


def test_the_api_and_the_cli_give_the_same_documents(tmp_path):
    m = pcilu.init(FABRIC)
    pf, _ = _pf_and_vf(m)
    m.save(tmp_path / "gen0.elf")
    cli = run(["preserve", tmp_path / "gen0.elf", pf, "--json"]).json()
    api = m.preserve(pf)
    assert api["results"] == cli["results"]
    run(["kexec", tmp_path / "gen0.elf", "-o", tmp_path / "gen1.elf"])
    assert pcilu.load(tmp_path / "gen1.elf").enumerate() == \
        run(["enumerate", tmp_path / "gen1.elf", "--json"]).json() == m.kexec().enumerate()
    assert pcilu.inspect(tmp_path / "gen1.elf") == \
        run(["inspect", tmp_path / "gen1.elf", "--json"]).json()
    data = (tmp_path / "gen1.elf").read_bytes()
    assert pcilu.inspect(data)["kind"] == "state"


def test_inspect_refuses_what_the_kernel_would_refuse():
    with pytest.raises(pcilu.BadInput):
        pcilu.inspect(b"")
    with pytest.raises(pcilu.BadInput):
        pcilu.inspect(b"\x7fELF" + b"\x00" * 60)


def test_rehearse_of_one_file_and_of_a_directory():
    one = pcilu.rehearse(ROOT / "fixtures" / "scenarios" / "switch.yaml")
    assert one["kind"] == "rehearsal" and one["passed"]
    many = pcilu.rehearse(ROOT / "fixtures" / "scenarios")
    assert many["kind"] == "rehearsals" and many["passed"]
    assert many["scenarios"] == len(list((ROOT / "fixtures" / "scenarios").glob("*.yaml")))
    assert many["summary"] == f"{many['scenarios']} passed, 0 failed"


def test_a_panic_at_kexec_carries_the_panicked_generation(tmp_path):
    m = pcilu.init(FABRIC, profile="v8")
    pf, _ = _pf_and_vf(m)
    m.preserve(pf)
    with pytest.raises(pcilu.KernelPanic) as exc:
        m.kexec(profile="v9")
    dead = exc.value.machine
    assert isinstance(dead, pcilu.Machine) and dead.phase == "panicked"
    assert dead.enumerate()["panic"] == exc.value.panic_message
    dead.save(tmp_path / "panicked.elf")
    run(["enumerate", tmp_path / "panicked.elf"], exit_code=5)


def test_export_writes_what_the_cli_writes_and_says_so_in_the_same_document(tmp_path):
    m = pcilu.init(FABRIC)
    pf, _ = _pf_and_vf(m)
    m.preserve(pf)
    m.kexec().save(tmp_path / "gen1.elf")
    api = pcilu.load(tmp_path / "gen1.elf").export(tmp_path / "api")
    cli = run(["export", tmp_path / "gen1.elf", "-o", tmp_path / "cli", "--json"]).json()
    assert api == {**cli, "directory": str(tmp_path / "api")}
    assert api["state"] == str(tmp_path / "gen1.elf")
    paths = [f["path"] for f in api["files"]]
    assert "flb/incoming/pci-v3.bin" in paths and "kho/in/fdt" in paths
    for f in api["files"]:
        assert (tmp_path / "api" / f["path"]).read_bytes() == \
            (tmp_path / "cli" / f["path"]).read_bytes(), f["path"]


def test_export_of_a_machine_made_in_memory_names_no_state_file(tmp_path):
    m = pcilu.init(FABRIC)
    doc = m.export(tmp_path / "gen0")
    assert doc["kind"] == "export" and doc["state"] is None and doc["removed"] == []
    assert pcilu.inspect(tmp_path / "gen0" / "kho" / "fdt")["kind"] == "kho_root_fdt"
    # exporting another generation into the same directory replaces what the first wrote
    pf, _ = _pf_and_vf(m)
    m.preserve(pf)
    again = m.kexec().export(tmp_path / "gen0")
    assert "flb/incoming/pci-v3.bin" in [f["path"] for f in again["files"]]
    state = json.loads((tmp_path / "gen0" / "state.json").read_text())
    assert state["metadata"]["generation"] == 1


def test_export_into_a_directory_it_does_not_own_is_bad_input(tmp_path):
    (tmp_path / "notes.txt").write_text("mine\n")
    with pytest.raises(pcilu.BadInput) as exc:
        pcilu.init(FABRIC).export(tmp_path)
    assert exc.value.exit_code == 3 and exc.value.file == str(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
