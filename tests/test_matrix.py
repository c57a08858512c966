# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu profiles --matrix``: every cell against what the failure policy of kho-luo-abi.md §6
predicts from the two profiles' fields (KHO compatible, LUO compatible, FLB name, version)."""
from __future__ import annotations

from pathlib import Path

import pytest

from pcilu_cli.abi.profiles import PADDING, PATH, PROFILES, matrix_profiles
from pcilu_cli.cli.cmd_matrix import profile_matrix
from pcilu_cli.fabric import load_fabric
from pcilu_cli.kernel import Kernel
from tests.pcilu_run import run

FABRIC = Path(__file__).resolve().parents[1] / "fixtures" / "fabrics" / "qemu-virtio-net.yaml"


def predict(a, b) -> str:
    """The §6 policy, in the order the new kernel meets the checks."""
    if a.kho_compatible != b.kho_compatible:
        return "no-kho"                      # kho_populate(): warning, non-KHO boot
    if a.luo_compatible != b.luo_compatible:
        return "panic"                       # luo_early_startup(): panic
    if a.pci_compatible != b.pci_compatible:
        return "nothing"                     # FLB strcmp: -ENOENT, nothing preserved
    if a.pci_version != b.pci_version:
        return "panic"                       # pci_flb_retrieve(): version check
    return "incoming"


def expected_incoming(a, b, fabric) -> set:
    """Endpoints (and, from patch 06 on, their upstream bridges) — unless the profiles have
    no device tracking (v6 patch 01), or the new kernel no incoming tracking (before patch 03,
    which adds pci_liveupdate_setup_device())."""
    if PADDING in (a.refcount, b.refcount) or b.patch < 3:
        return set()
    k = Kernel.boot(fabric.copy(), profile="v6")
    out = set()
    for d in k.devices.values():
        if d.is_bridge or d.fn.class_code >> 8 == 0x0600:
            continue
        x = d
        while x is not None:
            out.add(x.name)
            x = x.bus.self if a.refcount == PATH else None
    return out


@pytest.fixture(scope="module")
def matrix():
    return profile_matrix(FABRIC)


def test_every_cell_matches_the_policy(matrix):
    fabric = load_fabric(FABRIC)
    names = matrix_profiles()
    assert matrix["profiles"] == names
    cells = {(c["from"], c["to"]): c for c in matrix["cells"]}
    assert len(matrix["cells"]) == len(names) ** 2 == len(cells)
    for an in names:
        for bn in names:
            a, b, c = PROFILES[an], PROFILES[bn], cells[(an, bn)]
            want = predict(a, b)
            assert c["outcome"] == want, (an, bn, c)
            if want == "incoming":
                assert set(c["incoming"]) == expected_incoming(a, b, fabric), (an, bn)
                assert c["panic"] is None
            else:
                assert c["incoming"] == []
            if want == "no-kho":
                assert any(f"incompatible with '{b.kho_compatible}'" in m
                           for m in c["messages"]), (an, bn)
            if want == "nothing" and b.patch >= 3:  # patches 01-02 never look it up
                assert f"PCI: liveupdate: No incoming FLB matched {b.pci_compatible}" \
                    in c["messages"], (an, bn)
            if want == "panic":
                assert c["panic"] == (f"Incoming PCI FLB version (v{a.pci_version}) is "
                                      f"incompatible with this kernel (v{b.pci_version})")


def test_v6_into_the_version_field_era(matrix):
    cells = {(c["from"], c["to"]): c for c in matrix["cells"]}
    for to in ("v8", "v9"):
        c = cells[("v6", to)]
        # kho-v3 root offered to a kho-v4 kernel: silent non-KHO boot, no panic, no devices
        assert PROFILES["v6"].kho_compatible != PROFILES[to].kho_compatible
        assert c["outcome"] == "no-kho" and c["panic"] is None and c["incoming"] == []
        assert c["preserved"] == ["0000:01:00.0"]


def test_luo_mismatch_cell_panics(monkeypatch):
    odd = PROFILES["v7"].replace(name="v7-luo-v1", luo_compatible="luo-v1",
                                 aliases=())
    monkeypatch.setitem(PROFILES, odd.name, odd)
    doc = profile_matrix(FABRIC, profiles=["v7", odd.name])
    for c in doc["cells"]:
        want = predict(PROFILES[c["from"]], PROFILES[c["to"]])
        assert c["outcome"] == want, c
    (c,) = [c for c in doc["cells"] if c["from"] == odd.name and c["to"] == "v7"]
    assert "The incoming tree failed to initialize properly" in c["panic"]


def test_cli_json_and_table():
    r = run(["profiles", "--matrix", "--json"])
    doc = r.json()
    assert doc["kind"] == "profile_matrix" and doc["profiles"] == matrix_profiles()
    for c in doc["cells"]:
        assert {"from", "to", "outcome", "incoming", "panic", "reason", "messages"} <= set(c)
    r = run(["profiles", "--matrix"])
    for word in ("in(2)", "no-kho", "nothing", "panic", "v8 -> v9"):
        assert word in r.stdout


def test_cli_bad_fabric_is_exit_3(tmp_path):
    bad = tmp_path / "f.yaml"
    bad.write_text("pcilu_fabric: 1\nnodes: [\n")
    run(["profiles", "--matrix", "--fabric", bad], exit_code=3)
