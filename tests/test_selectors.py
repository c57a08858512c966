# SPDX-License-Identifier: GPL-2.0-only
"""Selectors: an operator picks devices the way lspci does (-s slot, -d vendor:device, a
class as lspci shows it), by subtree (--below), by bound driver from a capture (--driver
vfio-pci), or --all — on preserve, unpreserve, finish and plan."""
from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tests.pcilu_run import run

FAB = ROOT / "fixtures/fabrics"
CAP = ROOT / "fixtures/captures"
SWITCH = FAB / "switch-pcie.yaml"       # NVMe 03:00.0, dual NIC 04:00.0/1, host bridge


def picked(*sel, source=SWITCH):
    return [d["bdf"] for d in run(["plan", source, *sel, "--json"]).json()["devices"]]


def test_vendor_device_and_class_as_lspci_spells_them():
    assert picked("-d", "15b3:1017") == ["0000:04:00.0", "0000:04:00.1"]
    assert picked("-d", "15b3:") == ["0000:04:00.0", "0000:04:00.1"]
    assert picked("-d", "::0108") == ["0000:03:00.0"]
    assert picked("--class", "0200") == ["0000:04:00.0", "0000:04:00.1"]
    assert picked("--class", "Non-Volatile memory controller") == ["0000:03:00.0"]
    assert picked("--class", "01") == ["0000:03:00.0"]
    assert picked("--class", "010802") == ["0000:03:00.0"]


def test_slots_with_lspci_wildcards():
    assert picked("-s", "04:00.1") == ["0000:04:00.1"]
    assert picked("-s", "04:") == ["0000:04:00.0", "0000:04:00.1"]
    assert picked("-s", ".1") == ["0000:04:00.1"]
    assert picked("-s", "0000:03:00") == ["0000:03:00.0"]


def test_a_subtree_and_kinds_combine_like_lspci_filters():
    assert picked("--below", "0000:01:00.0") == ["0000:03:00.0", "0000:04:00.0",
                                                 "0000:04:00.1"]
    assert picked("--below", "02:01.0") == ["0000:04:00.0", "0000:04:00.1"]
    assert picked("--below", "0000:01:00.0", "--class", "0108") == ["0000:03:00.0"]
    assert picked("--below", "0000:01:00.0", "-d", "8086:") == []
    # bridges are never picked by a filter: they come along on their own
    assert "0000:01:00.0" not in picked("--all")


def test_driver_comes_from_a_capture():
    assert picked("--driver", "igb", source=CAP / "lspci-cap-pcie-2.tar.gz") == [
        "0000:01:00.0"]
    r = run(["plan", SWITCH, "--driver", "vfio-pci", "--json"], exit_code=3)
    assert "capture" in r.json()["message"]


@pytest.mark.parametrize("sel,field", [(["-d", "zz:1"], "-d"), (["-s", "1:2:3:4"], "-s"),
                                       (["--class", "Teapot"], "--class"),
                                       (["--below", "0000:99:00.0"], "--below")])
def test_bad_selectors_are_one_line_exit_3(sel, field):
    r = run(["plan", SWITCH, *sel, "--json"], exit_code=3)
    assert r.json()["field"] == field


def test_preserve_unpreserve_and_finish_take_selectors(tmp_path):
    g0, g1 = tmp_path / "g0.elf", tmp_path / "g1.elf"
    run(["init", SWITCH, "-o", g0])
    res = run(["preserve", g0, "--class", "Ethernet controller", "--json"]).json()["results"]
    assert [r["bdf"] for r in res] == ["0000:04:00.0", "0000:04:00.1"]
    # -s is lspci's slot here, never a session name
    assert [r["bdf"] for r in run(["preserve", g0, "-s", "03:00.0", "--json"]).json()[
        "results"]] == ["0000:03:00.0"]
    run(["kexec", g0, "-o", g1])
    # --all on finish means every device with an incoming file
    done = run(["finish", g1, "--all", "--json"]).json()["results"]
    assert [r["bdf"] for r in done] == ["0000:03:00.0", "0000:04:00.0", "0000:04:00.1"]
    assert all(r["file"] for r in done)
    run(["finish", g1, "--all"], exit_code=3)            # nothing left to finish
    # --all on unpreserve: every device with a preserved file
    undone = run(["unpreserve", g0, "--all", "--json"]).json()["results"]
    assert sorted(r["bdf"] for r in undone) == ["0000:03:00.0", "0000:04:00.0",
                                                "0000:04:00.1"]
    assert not any(r["corrupts_counts"] for r in undone)


def test_a_selector_that_matches_nothing_changes_nothing(tmp_path):
    g0 = tmp_path / "g0.elf"
    run(["init", SWITCH, "-o", g0])
    before = g0.read_bytes()
    run(["preserve", g0, "-d", "dead:beef"], exit_code=3)
    run(["preserve", g0], exit_code=2)
    assert g0.read_bytes() == before


def test_session_auto_fills_sessions_up_to_luo_file_max(tmp_path):
    fab, g0 = tmp_path / "big.fab", tmp_path / "g0.elf"
    run(["generate", "--functions", "300", "-o", fab])
    run(["init", fab, "-o", g0])
    planned = run(["plan", g0, "--all", "--session", "auto", "--json"]).json()
    ok = [d["bdf"] for d in planned["devices"] if d["preservable"]]
    res = run(["preserve", g0, *ok, "--session", "auto", "--json"]).json()["results"]
    sessions = [r["session"] for r in res]
    assert sessions == [d["session"] for d in planned["devices"] if d["preservable"]]
    assert sessions.count("pcilu-1") == 128
    # a later auto preserve continues in the first session with room
    assert sessions[-1] == f"pcilu-{-(-len(ok) // 128)}"
