# SPDX-License-Identifier: GPL-2.0-only
"""Faults and driver behaviour (scenario steps and kernel.faults), and the two enumeration
fixes of issue 15. Expectations name the kernel function they come from; the shipped
``fixtures/scenarios/fault-*.yaml`` run in test_rehearse."""
from __future__ import annotations

from pathlib import Path

import pytest

from pcilu_cli.errors import BadInput, KernelRefusal
from pcilu_cli.kernel import Kernel, faults
from pcilu_cli.rehearsal import run as rehearse
from pcilu_cli.rehearsal.scenario import load_scenario_text
from tests.inmemory_kexec import next_kernel
from tests.kernel_fabrics import switch_fabric

ROOT = Path(__file__).resolve().parents[1]
QEMU = ROOT / "fixtures" / "fabrics" / "qemu-virtio-net.yaml"
EP3, EP4, DSP0, USP, RP = "0000:03:00.0", "0000:04:00.0", "0000:02:00.0", "0000:01:00.0", \
    "0000:00:01.0"


def scenario(body: str):
    text = f"pcilu_scenario: 1\nfabric: {QEMU}\n" + body
    return rehearse(load_scenario_text(text, "t.yaml", base_dir=ROOT))


def failures(body: str) -> list:
    return scenario(body).failures


# -- enumeration fixes ----------------------------------------------------------------------
def test_a_renumbered_bridge_finds_the_devices_behind_it_in_the_same_rescan():
    # pci_scan_bridge_extend() pass 1 -> pci_add_new_bus(): the child bus spans [busnr, 0xff]
    # while it is scanned, then pci_bus_update_busn_res_end() trims it
    assert failures("""
steps:
  - hot-add: {bdf: "0000:00:02.0", parent: null, kind: root_port}
  - hot-add: {bdf: "0000:02:00.0", parent: "0000:00:02.0"}
  - hot-remove: 0000:00:02.0
  - reset: 0000:00:02.0
  - rescan:
    expect:
      - enumerated: [0000:00:02.0, 0000:02:00.0]
      - buses: {0000:00:02.0: "02-02"}
""") == []


def test_ari_is_no_longer_inherited_once_the_bridge_is_configured_anew():
    # pci_configure_ari(): pci_liveupdate_configure_ari() only short-circuits while the
    # bridge is incoming; after finish a re-added device gets the normal configuration
    k = Kernel.boot(switch_fabric())
    k.preserve(EP3)
    k1 = next_kernel(k, k.kexec())
    assert k1.dev(DSP0).ari_inherited
    k1.finish(EP3)                                  # DSP0 finishes with it
    k1.hot_remove(EP3)
    k1.rescan()                                     # EP3 (devfn 0) re-added under DSP0
    assert k1.dev(EP3) is not None and not k1.is_incoming(DSP0)
    assert not k1.dev(DSP0).ari_inherited


# -- kernel.faults --------------------------------------------------------------------------
def test_pci_liveupdate_preserve_without_a_file_is_enoent():
    # pci_liveupdate_flb_get_outgoing(): no outgoing object -> ERR_PTR(-ENOENT)
    k = Kernel.boot(switch_fabric())
    with pytest.raises(KernelRefusal) as ei:
        faults.pci_preserve_direct(k, EP3)
    assert ei.value.errno_name == "ENOENT"
    faults.preserve_file_without_device(k, "s", None)
    assert k.pci_flb.out_obj.nr_devices == 0 and k.pci_flb.out_count == 1
    faults.pci_preserve_direct(k, EP3)
    assert k.is_outgoing(EP3) and k.is_outgoing(RP)


def test_a_forgotten_unpreserve_leaves_the_blob_freed_with_entries():
    # pci_flb_unpreserve(): WARN_ON(ser->nr_devices), then kho_unpreserve_free()
    k = Kernel.boot(switch_fabric())
    k.preserve(EP3)
    faults.set_driver_fault(k, EP3, "unpreserve")
    k.unpreserve(EP3)
    assert k.pci_flb.out_obj is None
    assert any("WARN_ON(ser->nr_devices)" in ln for ln in k.log.lines())
    assert k.dev(EP3).outgoing is not None          # the device still points into it


def test_is_outgoing_needs_patch_11_and_warns_unless_frozen():
    # pci_liveupdate_is_outgoing(): pci_WARN_ONCE(dev, !frozen, "Preservation status is
    # unstable!") -- added by patch 11
    k = Kernel.boot(switch_fabric())
    k.preserve(EP3)
    assert faults.is_outgoing(k, EP3)["value"] is True
    assert f"WARNING: pci {EP3}: Preservation status is unstable!" in k.log.lines()
    with pytest.raises(KernelRefusal):
        faults.is_outgoing(Kernel.boot(switch_fabric(), profile="v6-p10"), EP3)


def test_corrupt_rejects_a_slot_outside_the_blob():
    k = Kernel.boot(switch_fabric())
    k.preserve(EP3)
    with pytest.raises(BadInput):
        faults.corrupt(k, "outgoing", "refcount", 1, slot=99)
    with pytest.raises(BadInput):
        faults.corrupt(k, "incoming", "nr_devices", 1)


def test_register_flb_with_config_n_is_the_stub():
    # include/linux/pci_liveupdate.h: pci_liveupdate_register_flb() returns -EOPNOTSUPP when
    # CONFIG_PCI_LIVEUPDATE=n
    k = Kernel.boot(switch_fabric())
    with pytest.raises(KernelRefusal) as ei:
        faults.register_flb(k, "config-n")
    assert ei.value.errno_name == "EOPNOTSUPP"


# -- scenario validation: bad fault steps are exit-3 input errors with a line -----------------
@pytest.mark.parametrize("step, words, line", [
    ("  - driver: {bdf: 0000:01:00.0, forget: both}", "forget must be one of", 4),
    ("  - corrupt: {field: refcount, value: 1}", "exactly one of 'slot' or 'bdf'", 4),
    ("  - corrupt: {field: colour, value: 1}", "field must be one of", 4),
    ("  - register-flb: thrice", "again, other-handler", 4),
    ("  - freeze: 3", "takes no argument", 4),
    ("  - preserve: 0000:01:00.0\n    expect: [{returns: true}]", "only an 'is-outgoing'", 5),
])
def test_bad_fault_steps_name_the_line(step, words, line):
    text = f"pcilu_scenario: 1\nfabric: {QEMU}\nsteps:\n{step}\n"
    with pytest.raises(BadInput) as ei:
        load_scenario_text(text, "t.yaml", base_dir=ROOT)
    assert words in ei.value.message and ei.value.line == line


def test_raw_blob_start_from_a_file(tmp_path):
    # as kexec --flb: the record named by the profile's compatible, one file per endpoint
    import struct
    blob = tmp_path / "b.bin"
    blob.write_bytes(struct.pack("<II", 3, 2) + struct.pack("<IHH", 0, 0x100, 1)
                     + struct.pack("<IHH", 0, 0x8, 1) + bytes(8))
    text = (f"pcilu_scenario: 1\nfabric: {QEMU}\nflb: {{file: b.bin}}\nsteps:\n"
            "  - expect:\n      - handover: raw-blob\n"
            "      - incoming: [0000:01:00.0, 0000:00:01.0]\n"
            "      - flb: {refcount: 3, retrieved: true}\n")
    res = rehearse(load_scenario_text(text, str(tmp_path / "t.yaml"), base_dir=tmp_path))
    assert res.failures == []
    with pytest.raises(BadInput):
        load_scenario_text(text.replace("b.bin", "missing.bin"), "t.yaml", base_dir=tmp_path)
