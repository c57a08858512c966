# SPDX-License-Identifier: GPL-2.0-only
"""The fabric as hardware: config space, routing by live bus registers, resets, VFs, copies."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcilu_cli.errors import BadInput
from pcilu_cli.fabric import format_bdf, parse_bdf
from pcilu_cli.fabric.build import FabricBuilder, small_fabric
from pcilu_cli.fabric.config import ConfigSpace
from pcilu_cli.fabric.model import Fabric
from pcilu_cli.fabric.quirks import needs_acs_quirk
from pcilu_cli.fabric.synth import synth_fabric


# -- config space ---------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(writes=st.lists(st.tuples(st.integers(0, 4092), st.sampled_from([1, 2, 4]),
                                 st.integers(0, 2**32 - 1)), max_size=30))
def test_config_space_behaves_like_a_flat_4k_register_file(writes):
    cfg, flat = ConfigSpace(4096), bytearray(4096)
    for off, width, value in writes:
        cfg.write(off, width, value)
        flat[off:off + width] = (value & ((1 << 8 * width) - 1)).to_bytes(width, "little")
    assert cfg.to_bytes() == bytes(flat)
    for off, width, _ in writes:
        assert cfg.read(off, width) == int.from_bytes(flat[off:off + width], "little")
    assert ConfigSpace.from_bytes(cfg.to_bytes()) == cfg


def test_config_space_is_sparse_and_copy_on_write():
    cfg = ConfigSpace(4096)
    cfg.write(0x04, 2, 0x0006)
    assert cfg.stored_length <= 8                 # not 4096 bytes for one register
    other = cfg.copy()
    other.write(0x04, 2, 0)
    assert cfg.read(0x04, 2) == 0x0006 and other.read(0x04, 2) == 0


def test_reads_beyond_a_short_dump_read_all_ones_and_hide_capabilities():
    cfg = ConfigSpace(64, bytes.fromhex("86800a34" "07011000") + bytes(0x2c) + b"\x40" + bytes(11))
    assert cfg.read(0x40, 4) == 0xFFFFFFFF
    assert cfg.find_capability(0x10) is None


def test_extended_capability_walk_is_bounded_on_a_self_loop():
    cfg = ConfigSpace(4096)
    cfg.write(0x100, 4, 0x000D | (1 << 16) | (0x100 << 20))   # ACS whose next points to itself
    assert cfg.ext_capabilities() == [(0x000D, 0x100)]


# -- BDF helpers ------------------------------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(st.integers(0, 0xFFFFFF), st.integers(0, 255), st.integers(0, 255))
def test_bdf_format_parse_round_trip(domain, bus, devfn):
    text = format_bdf(domain, bus, devfn)
    assert parse_bdf(text) == (domain, bus, devfn)


def test_bdf_helpers_follow_lspci_names():
    assert format_bdf(0x10000, 0, 0x20) == "10000:00:04.0"
    assert parse_bdf("03:01.1") == (0, 3, 9)
    with pytest.raises(ValueError):
        parse_bdf("00:20.0")


# -- routing ----------------------------------------------------------------------------------

def test_bridge_reset_hides_the_subtree_until_reprogrammed():
    fab = small_fabric("switch")
    nvme = fab.by_uid("0000:03:00.0")
    usp = fab.by_uid("0000:01:00.0")
    assert fab.current_bdf(nvme) == (0, 3, 0)
    assert fab.config_read(0, 3, 0, 0, 2) == 0x144D
    command = nvme.command
    fab.reset_function(usp)
    assert usp.bus_numbers() == (0, 0, 0) and not usp.bus_master
    assert fab.route(0, 3, 0) is None
    assert fab.config_read(0, 3, 0, 0, 4) == 0xFFFFFFFF
    assert fab.current_bdf(nvme) is None
    fab.config_write(0, 3, 0, 4, 2, 0x7)               # nobody answers: nothing changes
    assert nvme.command == command
    usp.set_bus_numbers(1, 2, 4)                         # a kernel re-programs it
    assert fab.route(0, 3, 0) is nvme


def test_writes_straight_to_config_space_also_reroute():
    fab = small_fabric("switch")
    dsp = fab.by_uid("0000:02:00.0")
    assert fab.route(0, 3, 0) is fab.by_uid("0000:03:00.0")
    fab.by_uid("0000:02:01.0").cfg.write(0x18, 4, 0)   # bypassing Fabric entirely
    dsp.cfg.write(0x18, 4, 0x00040402)                   # secondary 04 now
    assert fab.route(0, 3, 0) is None
    assert fab.route(0, 4, 0) is fab.by_uid("0000:03:00.0")


def test_renumbered_bridge_moves_its_children():
    fab = small_fabric("virtio")
    rp, nic = fab.by_uid("0000:00:01.0"), fab.by_uid("0000:01:00.0")
    rp.set_bus_numbers(0, 7, 7)
    assert fab.current_bdf(nic) == (0, 7, 0)
    assert fab.route(0, 1, 0) is None


def test_config_write_to_sriov_control_creates_and_removes_vfs():
    fab = small_fabric("sriov")
    pf = fab.by_uid("0000:01:00.0")
    assert [v.uid for v in pf.virtfns] == ["0000:01:10.0", "0000:01:10.2", "0000:01:10.4",
                                          "0000:01:10.6"]
    vf = pf.virtfns[1]
    assert vf.is_virtfn and vf.physfn is pf and vf.upstream is pf.upstream
    assert vf.cfg.read(0, 4) == 0xFFFFFFFF and vf.vendor == 0x8086 and vf.device == 0x10CA
    sp = pf.sriov_offset
    fab.config_write(0, 1, 0, sp + 0x08, 2, 0)           # VF Enable off
    assert pf.virtfns is None and fab.route(0, 1, 0x82) is None
    fab.config_write(0, 1, 0, sp + 0x10, 2, 2)
    fab.config_write(0, 1, 0, sp + 0x08, 2, 1)
    assert [fab.current_bdf(v) for v in pf.virtfns] == [(0, 1, 0x80), (0, 1, 0x82)]


def test_vf_on_a_bus_no_bridge_has_as_secondary_is_routed_on_the_pf_link():
    b = FabricBuilder("vfbus")
    b.add_function("0000:00:01.0", kind="root_port", acs=(0x1F, 0), ari_forwarding=(True, False))
    b.add_function("0000:01:00.0", "0000:00:01.0", vendor=0x8086, device=0x10c9,
                   sriov=dict(total_vfs=2, num_vfs=2, vf_enable=True, first_vf_offset=384,
                              vf_stride=2, vf_device=0x10ca))
    fab = b.build()
    rp = fab.by_uid("0000:00:01.0")
    assert rp.bus_numbers() == (0, 1, 2)                  # firmware reserved bus 02 for VFs
    vf0 = fab.by_uid("0000:02:10.0")
    assert fab.route(0, 2, 0x80) is vf0 and fab.current_bdf(vf0) == (0, 2, 0x80)


def test_reset_function_clears_acs_and_ari_forwarding():
    fab = small_fabric("sriov")
    rp = fab.by_uid("0000:00:01.0")
    assert rp.acs_ctrl == 0x001D and rp.ari_forwarding
    fab.reset_function(rp)
    assert rp.acs_ctrl == 0 and not rp.ari_forwarding and rp.acs_cap == 0x001F
    assert rp.ari_forwarding_supported                   # capability registers survive


def test_accessor_setters_write_config_space():
    fab = small_fabric("virtio")
    rp = fab.by_uid("0000:00:01.0")
    rp.acs_ctrl = 0x0005
    rp.ari_forwarding = True
    rp.bus_master = False
    assert rp.cfg.read(rp.acs_cap_offset + 6, 2) == 0x0005
    assert rp.cfg.read(rp.pcie_cap + 0x28, 2) & 0x20
    assert not rp.cfg.read(4, 2) & 4


def test_d3cold_function_does_not_answer():
    fab = small_fabric("virtio")
    nic = fab.by_uid("0000:01:00.0")
    nic.power_state = "D3cold"
    assert fab.config_read(0, 1, 0, 0, 2) == 0xFFFF
    nic.power_state = "D0"
    assert fab.config_read(0, 1, 0, 0, 2) == 0x1AF4


# -- copies and serialization -----------------------------------------------------------------

def _snapshot(fab):
    return [(f.uid, fab.current_bdf(f), f.is_virtfn, f.cfg.to_bytes(), dict(f._knobs or {}))
            for f in fab.functions()]


@pytest.mark.parametrize("kind", ["virtio", "switch", "sriov"])
def test_copy_and_serialization_preserve_everything(kind):
    fab = small_fabric(kind)
    fab.functions().__next__().knobs["reset_on_kexec"] = True
    assert _snapshot(fab.copy()) == _snapshot(fab)
    back = Fabric.from_bytes(fab.to_bytes())
    assert _snapshot(back) == _snapshot(fab)
    assert fab.to_bytes() == back.to_bytes()             # deterministic


def test_copy_is_independent():
    fab = small_fabric("switch")
    nxt = fab.copy()
    nxt.reset_function(nxt.by_uid("0000:01:00.0"))
    assert fab.route(0, 3, 0) is fab.by_uid("0000:03:00.0")
    assert nxt.route(0, 3, 0) is None


def test_corrupt_serialized_fabric_is_bad_input():
    data = bytearray(small_fabric("virtio").to_bytes())
    data[20] ^= 0xFF
    with pytest.raises(BadInput):
        Fabric.from_bytes(bytes(data))


def test_synthetic_fabric_is_reachable_and_compact():
    fab = synth_fabric(3000, endpoints_per_switch=4, seed=1)
    fns = list(fab.functions())
    assert len(fns) == 3000
    assert all(fab.current_bdf(f) is not None for f in fns)
    assert {fab.current_bdf(f) for f in fns}.__len__() == 3000
    data = fab.to_bytes()
    assert len(data) < 3000 * 40
    assert _snapshot(Fabric.from_bytes(data)) == _snapshot(fab)


def test_acs_quirk_table_and_knob():
    fab = small_fabric("virtio")
    rp = fab.by_uid("0000:00:01.0")
    assert not needs_acs_quirk(rp.vendor, rp.device, rp)
    rp.knobs["acs_quirk"] = True
    assert needs_acs_quirk(rp.vendor, rp.device, rp)
    assert needs_acs_quirk(0x8086, 0xA114)             # Sunrise Point PCH root port
    assert not needs_acs_quirk(0x10DE, 0xA114)
