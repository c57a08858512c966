# SPDX-License-Identifier: GPL-2.0-only
"""`pcilu plan` and `preserve --dry-run`: before touching a host, an operator asks which
devices can be kept, why the others cannot (in the kernel's own words), which bridges come
along, and whether struct pci_ser and the LUO sessions have room — and nothing is written."""
from __future__ import annotations

import pcilu
from tests.conftest import ROOT
from tests.pcilu_run import run

FAB = ROOT / "fixtures/fabrics"
CAP = ROOT / "fixtures/captures"


def plan(*args, exit_code=0):
    return run(["plan", *args, "--json"], exit_code=exit_code).json()


def by_bdf(doc):
    return {d["bdf"]: d for d in doc["devices"]}


def test_an_acs_quirk_on_the_root_port_refuses_the_devices_below_it():
    doc = plan(FAB / "switch.yaml", "0000:03:00.0", "0000:00:00.0")
    nvme, host = by_bdf(doc)["0000:03:00.0"], by_bdf(doc)["0000:00:00.0"]
    assert nvme["preservable"] is False and nvme["errno"] == "EINVAL"
    assert "ACS quirks" in nvme["reason"] and "upstream port 0000:00:1c.0" in nvme["reason"]
    assert nvme["kernel_message"].startswith("pci 0000:00:1c.0:")
    # the refusal was rolled back: the host bridge after it is planned on a clean state
    assert host["preservable"] is True and host["path"] == [{"bdf": "0000:00:00.0",
                                                              "refcount": 1}]
    assert doc["bridges"] == []
    assert doc["pci_ser"]["slots_needed"] == 1


def test_bridges_come_along_with_refcounts_of_everything_below():
    doc = plan(FAB / "switch-pcie.yaml", "--all")
    ok = [d for d in doc["devices"] if d["preservable"]]
    assert ok, doc
    # each bridge's refcount = number of preserved devices at or below it
    below = {}
    for d in ok:
        for hop in d["path"][1:]:
            below[hop["bdf"]] = below.get(hop["bdf"], 0) + 1
    assert {b["bdf"]: b["refcount"] for b in doc["bridges"]} == below
    assert doc["pci_ser"]["slots_needed"] == len(ok) + len(below)
    assert doc["pci_ser"]["fits"] is True
    assert doc["pci_ser"]["slots_needed"] <= doc["pci_ser"]["max_nr_devices"]


def test_virtual_functions_are_refused_and_their_pf_is_not():
    doc = plan(FAB / "sriov.yaml", "--all")
    kinds = {d["kind"]: d for d in doc["devices"]}
    assert kinds["vf"]["errno"] == "EINVAL"
    assert "Virtual Functions" in kinds["vf"]["reason"]
    pfs = [d for d in doc["devices"] if d["kind"] != "vf" and d["bdf"].endswith(("00.0",
                                                                                "00.1"))]
    assert any(d["preservable"] for d in pfs)


def test_a_card_below_a_cardbus_bridge_is_not_there_to_preserve():
    doc = plan(CAP / "lspci-tree-fujitsu-p8010.tar.gz", "--all")
    card = by_bdf(doc)["0000:1d:00.0"]
    assert card["errno"] == "ENODEV" and "CardBus bridge 0000:1c:03.0" in card["reason"]


def test_a_state_file_is_planned_as_it_stands_and_left_untouched(tmp_path):
    g0 = tmp_path / "g0.elf"
    m = pcilu.init(FAB / "emr-dsa-nvme.yaml")
    m.preserve("0000:6a:01.0")
    m.save(g0)
    before = g0.read_bytes()
    doc = plan(g0, "-d", "8086:0b25")
    assert doc["source_kind"] == "state"
    dsa = by_bdf(doc)
    assert dsa["0000:6a:01.0"]["errno"] == "EBUSY"          # already preserved
    assert all(d["preservable"] for b, d in dsa.items() if b != "0000:6a:01.0")
    assert len(dsa) == 8
    assert g0.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".lock") == ["g0.elf"]


def test_sessions_needed_follow_luo_file_max(tmp_path):
    fab = tmp_path / "big.fab"
    run(["generate", "--functions", "400", "-o", fab])
    auto = plan(fab, "--all", "--session", "auto")
    n = auto["summary"]["preservable"]
    assert n > 256, auto["summary"]
    cap = auto["luo"]["file_max"]
    assert cap == 128
    assert auto["luo"]["sessions_needed"] == -(-n // cap)
    names = [s["name"] for s in auto["luo"]["sessions"]]
    assert names == [f"pcilu-{i}" for i in range(1, len(names) + 1)]
    assert [s["files"] for s in auto["luo"]["sessions"]][:-1] == [cap] * (len(names) - 1)
    # one fixed session: the kernel refuses the 129th file
    one = plan(fab, "--all")
    refused = [d for d in one["devices"] if d["errno"] == "ENOSPC"]
    assert len(refused) == n - cap and "LUO_FILE_MAX" in refused[0]["reason"]


def test_a_block_era_kernel_has_no_session_limit(tmp_path):
    fab = tmp_path / "big.fab"
    run(["generate", "--functions", "400", "-o", fab])
    doc = plan(fab, "--all", "--profile", "v8")
    assert doc["luo"]["file_max"] is None and doc["luo"]["sessions_needed"] == 1
    assert doc["pci_ser"]["max_nr_devices"] is None and doc["pci_ser"]["fits"] is True


def test_preserve_dry_run_writes_nothing_and_reports_what_would_happen(tmp_path):
    g0 = tmp_path / "g0.elf"
    pcilu.init(FAB / "switch-pcie.yaml").save(g0)
    before = g0.read_bytes()
    doc = run(["preserve", g0, "0000:04:00.0", "--dry-run", "--json"]).json()
    assert doc["dry_run"] is True
    assert [p["bdf"] for p in doc["results"][0]["path"]][:2] == ["0000:04:00.0", "0000:02:01.0"]
    assert g0.read_bytes() == before
    g1 = tmp_path / "g1.elf"
    pcilu.init(FAB / "switch.yaml").save(g1)
    before = g1.read_bytes()
    refused = run(["preserve", g1, "0000:03:00.0", "--dry-run"], exit_code=4)
    assert "EINVAL" in refused.stderr
    assert g1.read_bytes() == before


def test_plan_errors_are_one_json_document(tmp_path):
    r = run(["plan", tmp_path / "missing.yaml", "--all", "--json"], exit_code=3)
    assert r.json()["kind"] == "error" and r.json()["exit_code"] == 3
    r = run(["plan", FAB / "switch.yaml", "--json"], exit_code=2)
    assert r.json()["kind"] == "error"
    r = run(["plan", FAB / "switch.yaml", "0000:77:00.0", "--json"], exit_code=3)
    assert "unknown BDF" in r.json()["message"]


def test_a_human_plan_is_not_wrapped_in_a_pipe():
    r = run(["plan", CAP / "lspci-tree-fujitsu-p8010.tar.gz", "--all"],
            env={"COLUMNS": "40"})
    longest = max(len(ln) for ln in r.stdout.splitlines())
    assert longest > 80
    assert any("below the CardBus bridge 0000:1c:03.0" in ln for ln in r.stdout.splitlines())
