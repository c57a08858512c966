# SPDX-License-Identifier: GPL-2.0-only
"""Preserve: ``pci_liveupdate_preserve()`` and the ``struct pci_ser`` it fills (pci-liveupdate-v6.md
§1.4, §1.6, §4.1, §4.3): order of checks and errnos, slot search, refusals that leave no
trace, and two property tests (any preserve/unpreserve sequence keeps the blob's invariants; a
stateful model of preserve/unpreserve/kexec/finish through the Machine).

Each test names the spec section it pins; expected values come from the spec text, not from
the simulator.
"""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pcilu_cli.errors import KernelRefusal
from pcilu_cli.fabric.build import FabricBuilder, small_fabric
from pcilu_cli.kernel import Kernel, liveupdate as lu
from pcilu_cli.state import Machine
from tests.inmemory_kexec import next_kernel
from tests.kernel_fabrics import (
    EINVAL, EBUSY, ENOSPC, ENOENT, EOPNOTSUPP, RP, USP, DSP0, DSP1, EP0, EP1, entry, slots, hdr, new_lines, devs, snapshot, switch_fabric, FOUR_EPS, four_endpoint_fabric)


# == §4.1 pci_liveupdate_preserve(): order of checks and errnos ===============================
def test_s4_1_vf_einval_is_checked_before_the_flb_lookup():
    """§4.1 step 1: a VF gets -EINVAL even with LUO disabled or no outgoing blob."""
    for params in ("liveupdate=off", None):
        k = Kernel.boot(small_fabric("sriov"), params=params)
        vf = next(d for d in k.devices.values() if d.is_virtfn)
        pf = vf.physfn
        assert lu.pci_liveupdate_preserve(k, vf) == EINVAL
        # the non-VF start device reaches the FLB lookup
        assert lu.pci_liveupdate_preserve(k, pf) == (EOPNOTSUPP if params else ENOENT)
        assert not any("Virtual" in m for m in k.log.lines())     # v6: silent refusal


def test_s4_1_frozen_ancestor_rolls_back_only_devices_below_it():
    """§4.1 step 4.1 + step 5: frozen bridge → -EINVAL, M13 on the bridge, the devices below
    it are unpreserved once (M7), the frozen device and those above are untouched."""
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    before = k.outgoing_blob()
    lu.pci_liveupdate_freeze(k, k.dev(USP))
    start = len(k.log)
    with pytest.raises(KernelRefusal) as ei:
        k.preserve(EP1)
    assert ei.value.errno_name == "EINVAL"
    assert new_lines(k, start) == [
        f"pci {EP1}: Device will be preserved across next Live Update",
        f"pci {DSP1}: Device will be preserved across next Live Update",
        f"pci {USP}: Cannot preserve device after it is frozen!",
        f"pci {EP1}: Device will no longer be preserved across next Live Update",
        f"pci {DSP1}: Device will no longer be preserved across next Live Update"]
    assert k.outgoing_blob() == before
    assert k.dev(USP).outgoing is not None and k.dev(DSP1).outgoing is None


def test_s4_1_preserve_again_with_zero_refcount_warns_m10():
    """§4.1 step 4.2: an outgoing device whose entry reads refcount 0 → pci_WARN M10,
    -EINVAL, rollback of the devices below it."""
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    ser = k.pci_flb.out_obj
    ser.set_refcount(k.dev(USP).outgoing, 0)          # corruption
    start = len(k.log)
    assert lu.pci_liveupdate_preserve(k, k.dev(EP1)) == EINVAL
    lines = new_lines(k, start)
    assert lines[2] == f"WARNING: pci {USP}: Preserved device with 0 refcount!"
    assert lines[3:] == [
        f"pci {EP1}: Device will no longer be preserved across next Live Update",
        f"pci {DSP1}: Device will no longer be preserved across next Live Update"]


def test_s4_1_bridge_without_child_bus_is_ebusy_like_an_endpoint():
    """§4.1 step 4.2: -EBUSY whenever d.subordinate is NULL, bridges included (a bridge
    skipped for lack of bus numbers has no child bus); no message."""
    k0 = Kernel.boot(switch_fabric(dsp1={"reset_on_kexec": True}))
    k0.preserve(EP0)
    k = next_kernel(k0, k0.kexec())
    dsp1 = k.dev(DSP1)
    assert dsp1.subordinate is None
    k.preserve(EP0)                                   # outgoing blob exists
    assert lu.pci_liveupdate_preserve(k, dsp1) == 0
    start = len(k.log)
    assert lu.pci_liveupdate_preserve(k, dsp1) == EBUSY
    assert new_lines(k, start) == []
    # a bridge with a child bus just counts (and so do its ancestors)
    ser = k.pci_flb.out_obj
    rc_rp = ser.refcount(k.dev(RP).outgoing)
    assert lu.pci_liveupdate_preserve(k, k.dev(DSP0)) == 0
    assert ser.refcount(k.dev(DSP0).outgoing) == 2
    assert ser.refcount(k.dev(RP).outgoing) == rc_rp + 1


def test_s4_1_acs_quirk_checked_only_at_first_preservation():
    """§4.1 step 4.3 / §7.2: the quirk check guards only the first entry; a device already
    outgoing is counted up even if it would now need a quirk."""
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    k._quirk_cache[k.dev(USP).key] = True             # USP "needs" a quirk from now on
    k.preserve(EP1)                                   # USP already outgoing: no refusal
    assert k.pci_flb.out_obj.refcount(k.dev(USP).outgoing) == 2


def test_s4_1_enospc_before_slot_search_and_after_quirk_check():
    """§4.1 step 4.3: quirk refusal comes before the -ENOSPC guard."""
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    ser = k.pci_flb.out_obj
    ser.nr_devices = ser.max_nr                       # "full"
    k._quirk_cache[k.dev(EP1).key] = True
    start = len(k.log)
    assert lu.pci_liveupdate_preserve(k, k.dev(EP1)) == EINVAL
    assert new_lines(k, start) == [
        f"pci {EP1}: Refusing to preserve device that relies on ACS quirks"]
    k._quirk_cache[k.dev(EP1).key] = False
    assert lu.pci_liveupdate_preserve(k, k.dev(EP1)) == ENOSPC


# == §4.3 slot search, §1.4 freed entries zeroed ==============================================
def test_s4_3_slot_search_wraps_and_s1_4_freed_entries_are_all_zero():
    b = FabricBuilder("wrap")
    for i in range(4):
        b.add_function(f"0000:00:{i + 1:02x}.0", kind="pci_endpoint", vendor=0x1234)
    k = Kernel.boot(b.build())                        # max_nr_devices = 4, no bridges
    for i in range(4):
        k.preserve(f"00:{i + 1:02x}.0")
    assert hdr(k.outgoing_blob()) == (4, 4)
    k.unpreserve("00:02.0")                           # slot 1 freed
    blob = k.outgoing_blob()
    assert blob[16:24] == bytes(8)                    # domain, bdf and refcount all zero
    assert hdr(blob) == (4, 3)
    k.unpreserve("00:01.0")                           # slot 0 freed, nr 2
    k.preserve("00:01.0")                             # start 2 (busy), 3 (busy), 0 → free
    assert slots(k.outgoing_blob())[(0, 0x08)] == (0, 1)
    k.preserve("00:02.0")                             # start 3, 0 busy, → 1
    assert slots(k.outgoing_blob())[(0, 0x10)] == (1, 1)
    with pytest.raises(KernelRefusal) as ei:
        k.unpreserve("00:02.0")
        k.preserve("00:02.0")
        k.preserve("00:02.0")
    assert ei.value.errno_name == "EBUSY"




# -- §1.6 and §4.3: byte-exact blobs ---------------------------------------------------------
def test_worked_byte_example_section_1_6():
    b = FabricBuilder("six")
    b.add_function("0000:00:00.0", kind="host_bridge")
    b.add_function("0000:00:02.0", kind="root_port")
    b.add_function("0000:01:00.0", "0000:00:02.0")
    b.add_function("0000:00:03.0")
    b.add_function("0000:00:1f.0", multifunction=True)
    b.add_function("0000:00:1f.2")
    k = Kernel.boot(b.build())
    assert len(k.devices) == 6
    k.preserve("0000:01:00.0")
    blob = k.outgoing_blob()
    expected = bytes.fromhex("06000000" "02000000"
                             "0000000000010100" "0000000010000100") + bytes(32)
    assert blob == expected
    assert k.log.lines()[-2:] == [
        "pci 0000:01:00.0: Device will be preserved across next Live Update",
        "pci 0000:00:02.0: Device will be preserved across next Live Update"]


def test_slot_search_section_4_3():
    # two conventional PCI bridges (no only-one-child rule) so R can hold A and B
    b = FabricBuilder("slots")
    b.add_function("0000:00:00.0", kind="host_bridge")
    b.add_function("0000:00:01.0", kind="pci_bridge")      # R
    b.add_function("0000:01:00.0", "0000:00:01.0", kind="pci_endpoint")   # A
    b.add_function("0000:01:01.0", "0000:00:01.0", kind="pci_endpoint")   # B
    b.add_function("0000:00:02.0", kind="pci_bridge")      # R2
    b.add_function("0000:02:00.0", "0000:00:02.0", kind="pci_endpoint")   # C
    k = Kernel.boot(b.build())
    k.preserve("01:00.0")
    k.preserve("01:01.0")
    k.unpreserve("01:00.0")
    k.preserve("02:00.0")
    want = (struct.pack("<II", 6, 4) + bytes(8) + entry(0, 0x0008, 1) + entry(0, 0x0108, 1)
            + entry(0, 0x0200, 1) + entry(0, 0x0010, 1) + bytes(8))
    assert k.outgoing_blob() == want


def test_second_endpoint_preserve_is_ebusy_and_leaves_no_trace():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    before = snapshot(k)
    with pytest.raises(KernelRefusal) as ei:
        k.preserve("03:00.0")                 # same session: new token, PCI core says busy
    assert ei.value.errno_name == "EBUSY" and ei.value.kernel_message is None
    with pytest.raises(KernelRefusal) as ei:
        k.preserve("03:00.0", session="other")
    assert ei.value.errno_name == "EBUSY"
    assert snapshot(k) == before


def test_bridge_preserved_twice_just_counts():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    k.preserve("02:00.0")                     # a bridge with a child bus: no -EBUSY
    d = devs(k)
    assert d["0000:02:00.0"]["outgoing_refcount"] == 2
    assert d["0000:00:01.0"]["outgoing_refcount"] == 2


def test_vf_refused_with_einval_before_anything():
    k = Kernel.boot(small_fabric("sriov"))
    vfs = [d for d in k.devices.values() if d.is_virtfn]
    assert len(vfs) == 4 and all(v.physfn.name == "0000:01:00.0" for v in vfs)
    with pytest.raises(KernelRefusal) as ei:
        k.preserve(vfs[0].name)
    assert ei.value.errno_name == "EINVAL"
    assert k.outgoing_blob() is None and k._allocator.used == {}
    assert k.luo.sessions == {}


def test_acs_quirk_refusal_rolls_back_the_path():
    k = Kernel.boot(switch_fabric(usp={"acs_quirk": True}))
    k.preserve("00:00.0")                    # the host bridge: blob exists, root bus only
    before = snapshot(k)
    start = len(k.log)
    with pytest.raises(KernelRefusal) as ei:
        k.preserve("04:00.0")
    assert ei.value.errno_name == "EINVAL"
    assert ei.value.kernel_message == \
        "pci 0000:01:00.0: Refusing to preserve device that relies on ACS quirks"
    assert k.log.lines(start) == [
        "pci 0000:04:00.0: Device will be preserved across next Live Update",
        "pci 0000:02:01.0: Device will be preserved across next Live Update",
        "pci 0000:01:00.0: Refusing to preserve device that relies on ACS quirks",
        "pci 0000:04:00.0: Device will no longer be preserved across next Live Update",
        "pci 0000:02:01.0: Device will no longer be preserved across next Live Update"]
    assert snapshot(k) == before


def test_enospc_when_devices_appear_after_first_preserve():
    k = Kernel.boot(switch_fabric())
    k.hot_remove("04:00.0")                  # 6 pci_devs left when the blob is sized
    k.preserve("03:00.0")                    # EP0, DSP0, USP, RP
    k.preserve("00:00.0")                    # 5 of 6
    k.rescan()
    assert "0000:04:00.0" in devs(k)
    before = snapshot(k)
    with pytest.raises(KernelRefusal) as ei:
        k.preserve("04:00.0")                # EP1 takes slot 6/6, DSP1 finds no room
    assert ei.value.errno_name == "ENOSPC"
    assert snapshot(k) == before
    assert struct.unpack_from("<II", k.outgoing_blob()) == (6, 5)


def test_freeze_refusals():
    k = Kernel.boot(switch_fabric())
    k.preserve("03:00.0")
    k.freeze()
    with pytest.raises(KernelRefusal) as ei:
        k.preserve("04:00.0")
    assert ei.value.errno_name == "EINVAL"
    assert ei.value.kernel_message == \
        "pci 0000:04:00.0: Cannot preserve device after it is frozen!"
    blob = k.outgoing_blob()
    r = k.unpreserve("03:00.0")
    # the file goes away, the PCI core refuses, and LUO then frees a blob with nr != 0
    assert "pci 0000:03:00.0: Cannot unpreserve device after it is frozen!" in r["messages"]
    assert any(m.startswith("WARNING: ") and "nr_devices" in m for m in r["messages"])
    assert struct.unpack_from("<II", blob) == (7, 4)


# == any sequence of preserve/unpreserve keeps the pci_ser invariants (§1.4, §4, §5.1) ====

ops = st.lists(st.tuples(st.sampled_from(["p", "u"]), st.sampled_from(FOUR_EPS)), max_size=14)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_blob_invariants_and_hand_over(seq):
    k = Kernel.boot(four_endpoint_fabric())
    for op, ep in seq:
        if op == "p":
            try:
                k.preserve(ep)
            except KernelRefusal as exc:
                assert exc.errno_name == "EBUSY"
        else:
            k.unpreserve(ep)
    blob = k.outgoing_blob()
    preserved = {d.name for d in k.devices.values() if d.outgoing is not None and d.hdr_type == 0}
    if blob is None:
        assert not preserved
        return
    max_nr, nr = struct.unpack_from("<II", blob)
    assert max_nr == len(k.devices) and len(blob) == 8 + 8 * max_nr
    entries = [e for e in struct.iter_unpack("<IHH", blob[8:]) if e[2]]
    assert nr == len(entries)
    # every bridge's refcount = preserved endpoints below it
    for d in k.devices.values():
        if d.outgoing is None:
            continue
        rc = struct.unpack_from("<H", blob, 8 + 8 * d.outgoing + 6)[0]
        below = 1 if d.hdr_type == 0 else 0
        if d.subordinate is not None:
            below = sum(1 for e in preserved if _under(k, e, d))
        assert rc == below
    k1 = next_kernel(k, k.kexec())
    incoming = {d.name for d in k1.devices.values() if d.incoming is not None}
    outgoing = {d.name for d in k.devices.values() if d.outgoing is not None}
    assert incoming == outgoing


def _under(k, ep_name, bridge):
    d = next(x for x in k.devices.values() if x.name == ep_name)
    while d is not None:
        if d is bridge:
            return True
        d = d.bus.self
    return False


# == the stateful model ======================================================================
# Stateful property test: random preserve / unpreserve / kexec / finish sequences against a
# tiny reference model written from the spec (pci-liveupdate-v6.md §4.1–§4.3, §5.2), on the
# switch fabric (RP → USP → two DSPs → two NVMe) through the Machine, i.e. with real memory.
#
# The model knows only the rules: a preserved endpoint counts once on every device of its path
# up to the root port; an endpoint is preserved at most once (a second time is -EBUSY and
# changes nothing); refcounts of a path drop on unpreserve; the next kernel sees exactly the
# outgoing devices as incoming, with Bus Master kept on them and cleared elsewhere; finishing an
# endpoint drops its path's incoming counts.
DSPS = ["0000:02:00.0", "0000:02:01.0"]
EPS = ["0000:03:00.0", "0000:04:00.0"]
PATH = {EPS[i]: [EPS[i], DSPS[i], USP, RP] for i in range(2)}
ALL = ["0000:00:00.0", RP, USP] + DSPS + EPS


class PreserveMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.m = Machine.boot(switch_fabric())
        self.preserved: set[str] = set()        # model: endpoints preserved (outgoing)
        self.incoming: set[str] = set()         # model: endpoints incoming, not finished

    # ---- the model -----------------------------------------------------------------------
    def expected_refcount(self, bdf, eps) -> int:
        return sum(1 for ep in eps if bdf in PATH[ep])

    def report(self):
        return {d["bdf"]: d for d in self.m.report()["devices"]}

    # ---- rules -----------------------------------------------------------------------------
    @rule(ep=st.sampled_from(EPS))
    def preserve(self, ep):
        if ep in self.preserved:
            before = self.m.kernel.outgoing_blob()
            try:
                self.m.preserve(ep)
            except KernelRefusal as e:
                assert e.errno_name == "EBUSY"
            else:
                raise AssertionError(f"second preserve of {ep} was not refused")
            assert self.m.kernel.outgoing_blob() == before      # no trace of the refusal
        else:
            self.m.preserve(ep)
            self.preserved.add(ep)

    @precondition(lambda self: self.preserved)
    @rule(data=st.data())
    def unpreserve(self, data):
        ep = data.draw(st.sampled_from(sorted(self.preserved)))
        self.m.unpreserve(ep)
        self.preserved.discard(ep)

    @rule()
    def kexec(self):
        before = self.report()
        nxt = self.m.kexec()
        rep = {d["bdf"]: d for d in nxt.report()["devices"]}
        path = {b for ep in self.preserved for b in PATH[ep]}
        for bdf in ALL:
            assert rep[bdf]["incoming"] == (bdf in path), bdf
            # kept (not cleared) on the preserved path, cleared elsewhere; nothing sets it
            # again (pcilu models no driver binding, which would call pci_set_master())
            want = before[bdf]["bus_master"] if bdf in path else False
            assert rep[bdf]["bus_master"] == want, bdf
        self.m, self.incoming, self.preserved = nxt, set(self.preserved), set()

    @precondition(lambda self: self.incoming)
    @rule(data=st.data())
    def finish(self, data):
        ep = data.draw(st.sampled_from(sorted(self.incoming)))
        self.m.finish(ep)
        self.incoming.discard(ep)

    # ---- invariants -----------------------------------------------------------------------
    @invariant()
    def outgoing_refcounts_match_the_model(self):
        rep = self.report()
        for bdf in ALL:
            want = self.expected_refcount(bdf, self.preserved) if bdf in PATH[EPS[0]] + \
                PATH[EPS[1]] else 0
            assert rep[bdf]["outgoing_refcount"] == want, (bdf, rep[bdf], self.preserved)
            assert rep[bdf]["outgoing"] == (want > 0), bdf

    @invariant()
    def the_blob_counts_what_is_in_use(self):
        blob = self.m.kernel.outgoing_blob()
        if blob is None:
            assert not self.preserved
            return
        max_nr, nr = struct.unpack_from("<II", blob, 0)
        in_use = [e for e in struct.iter_unpack("<IHH", blob[8:8 + 8 * max_nr]) if e[2]]
        assert nr == len(in_use) == len({b for ep in self.preserved for b in PATH[ep]})
        # freed entries are zeroed entirely (§1.4 rule 4)
        assert all(e == (0, 0, 0) or e[2] for e in struct.iter_unpack("<IHH",
                                                                       blob[8:8 + 8 * max_nr]))

    @invariant()
    def incoming_follows_finish(self):
        rep = self.report()
        path = {b for ep in self.incoming for b in PATH[ep]}
        for bdf in ALL:
            assert rep[bdf]["incoming"] == (bdf in path), (bdf, self.incoming)


PreserveMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=12,
                                             deadline=None, derandomize=True)
TestPreserveMachine = PreserveMachine.TestCase
