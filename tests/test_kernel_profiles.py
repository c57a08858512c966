# SPDX-License-Identifier: GPL-2.0-only
"""Scenario tests of the later kernel profiles (pci-liveupdate-v6.md §1.3, §12, §13;
kho-luo-abi.md §3, §4, §6): one test per behaviour difference, bytes checked against
struct.pack-built expectations, block chains walked with kho_block_set_restore()."""
from __future__ import annotations

import struct

import pytest

from pcilu_cli.abi.profiles import PROFILES, get_profile
from pcilu_cli.errors import KernelPanic, KernelRefusal
from pcilu_cli.fabric.build import small_fabric
from pcilu_cli.kernel import Kernel, SimpleAllocator
from tests.inmemory_kexec import next_kernel
from pcilu_cli.kernel.pci_blocks import KernelPages, PciSerBlocks
from pcilu_cli.memory.blocks import kho_block_set_restore
from tests.kernel_fabrics import switch_fabric

EP3, EP4 = "0000:03:00.0", "0000:04:00.0"
# bdf values of the switch fabric below
B_RP, B_USP, B_DSP0, B_DSP1, B_EP3, B_EP4 = 0x0008, 0x0100, 0x0200, 0x0208, 0x0300, 0x0400


def entry(domain, bdf, rc):
    return struct.pack("<IHH", domain, bdf, rc)




class _Mem:
    """The outgoing kernel's pages seen as memory (what the Machine writes to PhysMem)."""

    def __init__(self, pages):
        from pcilu_cli.memory.physmem import PhysMem
        self.m = PhysMem()
        for pa, data in pages:
            self.m.write(pa, bytes(data))

    def __getattr__(self, name):
        return getattr(self.m, name)


def walk(k):
    """(header bytes, restored chain) of the outgoing block-era pci_ser of kernel ``k``."""
    ser = k.pci_flb.out_obj
    mem = _Mem(k.outgoing_pages())
    hsize = 16 if k.profile.pci_version else 12
    hdr = mem.read(ser.pa, hsize)
    head = struct.unpack_from("<Q", hdr, hsize - 8)[0]
    return hdr, kho_block_set_restore(mem, head, 8)


def both_endpoints(profile, **knobs):
    k = Kernel.boot(switch_fabric(**knobs), profile=profile)
    k.preserve(EP3)
    k.preserve(EP4)
    return k


# -- v7 / version era: struct pci_ser + kho_block chain ----------------------------------------
@pytest.mark.parametrize("profile", ["v7", "v8", "v9"])
def test_block_era_header_and_chain_bytes(profile):
    k = both_endpoints(profile)
    hdr, chain = walk(k)
    head = chain.blocks[0][0]
    p = get_profile(profile)
    want_hdr = (struct.pack("<IIQ", p.pci_version, 6, head) if p.pci_version
                else struct.pack("<IQ", 6, head))
    assert hdr == want_hdr
    # endpoint first, then each upstream bridge; the second path only adds what is new
    assert chain.blocks == [(head, 6)]
    assert chain.data == (entry(0, B_EP3, 1) + entry(0, B_DSP0, 1) + entry(0, B_USP, 2)
                          + entry(0, B_RP, 2) + entry(0, B_EP4, 1) + entry(0, B_DSP1, 1))


def test_v7_first_fit_reuses_zeroed_slots_and_drops_the_chain_when_empty():
    k = both_endpoints("v7")
    k.unpreserve(EP3)                         # EP3 and DSP0 slots zeroed, USP/RP count down
    _hdr, chain = walk(k)
    assert chain.data == (bytes(16) + entry(0, B_USP, 1) + entry(0, B_RP, 1)
                          + entry(0, B_EP4, 1) + entry(0, B_DSP1, 1))
    assert chain.blocks[0][1] == 6            # holes still count in the block header
    k.preserve(EP3)                           # first fit: slots 0 and 1 again
    _hdr, chain = walk(k)
    assert chain.data[:16] == entry(0, B_EP3, 1) + entry(0, B_DSP0, 1)
    from pcilu_cli.kernel import liveupdate as lu
    k.unpreserve(EP3)
    lu.pci_liveupdate_unpreserve(k, k.dev(EP4))   # EP4's file stays: the FLB stays
    hdr, chain = walk(k)                      # every block given back: devices = 0
    assert hdr == struct.pack("<IQ", 0, 0) and chain.blocks == []


def test_block_chain_grows_past_510_entries_and_shrinks_back():
    alloc = SimpleAllocator()
    pages = KernelPages(alloc.alloc_preserve, alloc.free)
    ser = PciSerBlocks(pages, pages.alloc_preserve(12), None)
    for i in range(515):
        slot = ser.claim_slot()
        assert slot == i
        ser.set_entry(slot, 0, i, 1)
        ser.nr_devices += 1
    mem = _Mem(ser.pages())
    head = struct.unpack_from("<Q", bytes(ser.blob), 4)[0]
    chain = kho_block_set_restore(mem, head, 8)
    assert [c for _pa, c in chain.blocks] == [510, 5]
    assert chain.data == b"".join(entry(0, i, 1) for i in range(515))
    for i in range(514, 509, -1):             # free the five entries of the second block
        ser.zero_entry(i)
        ser.release_slot(i)
    assert len(ser.set.blocks) == 1 and len(alloc.used) == 2     # header + one block
    assert struct.unpack_from("<Q", bytes(ser.blob), 4)[0] == head
    chain = kho_block_set_restore(_Mem(ser.pages()), head, 8)
    assert chain.blocks == [(head, 510)]


@pytest.mark.parametrize("profile", ["v7", "v8"])
def test_block_era_hand_over_and_finish(profile):
    k = both_endpoints(profile)
    k1 = next_kernel(k, k.kexec())
    inc = {d.name for d in k1.devices.values() if d.incoming is not None}
    assert inc == {EP3, EP4, "0000:02:00.0", "0000:02:01.0", "0000:01:00.0", "0000:00:01.0"}
    k1.finish(EP3)
    # finish writes the refcounts into the incoming blocks (what the Machine puts in memory)
    (_hpa, _h), (bpa, page) = k1.incoming_pages()
    assert page[16:16 + 32] == (entry(0, B_EP3, 0) + entry(0, B_DSP0, 0) + entry(0, B_USP, 1)
                                + entry(0, B_RP, 1))
    k1.finish(EP4)
    assert k1.pci_flb.finished and k1.incoming_freed and k1.panic is None
    # header and device block are both released (kho_restore_free / block set destroy)
    assert k1.incoming_freed_pages == [_hpa, bpa]


def test_block_era_state_round_trip_continues_identically():
    k = Kernel.boot(switch_fabric(), profile="v7")
    k.preserve(EP3)
    from pcilu_cli.state import kernel_note
    k2, _kept = kernel_note.decode(kernel_note.encode(k), switch_fabric(),
                                   read=kernel_note.pages_reader(k.outgoing_pages()))
    for kk in (k, k2):
        kk.preserve(EP4)
        kk.unpreserve(EP3)
    assert k.outgoing_pages() == k2.outgoing_pages()
    h1, h2 = k.kexec(), k2.kexec()
    assert h1.pages == h2.pages


# -- retrieve failures (§13: v7 panics from the caller, later retrieve panics itself) ---------
def corrupt_handover(profile, how):
    k = both_endpoints(profile)
    h = k.kexec()
    hdr_pa = h.flbs[0][1]
    pages = dict(h.pages)
    (bpa,) = [pa for pa in pages if pa != hdr_pa]
    page = bytearray(pages[bpa])
    if how == "count0":
        page[8:16] = bytes(8)                 # a block with count 0 is rejected
    elif how == "duplicate":
        page[16 + 8:16 + 16] = entry(0, B_EP3, 1)   # slot 1 repeats slot 0's device
    elif how == "version":
        hdr = bytearray(pages[hdr_pa])
        hdr[0] = 7
        h.flbs[0] = h.flbs[0][:3] + (bytes(hdr),)
        pages[hdr_pa] = bytes(hdr)
    pages[bpa] = bytes(page)
    h.pages = list(pages.items())
    return k, h


@pytest.mark.parametrize("how,err", [("count0", -22), ("duplicate", -16)])
def test_v7_retrieve_failure_panics(how, err):
    k, h = corrupt_handover("v7", how)
    with pytest.raises(KernelPanic) as ei:
        next_kernel(k, h)
    assert ei.value.panic_message == "Failed to retrieve incoming FLB data (%d)" % err
    assert ei.value.kernel.phase == "panicked"


def test_v6_retrieve_failure_only_warns():
    k = Kernel.boot(switch_fabric())
    k.preserve(EP3)
    h = k.kexec()
    name, pa, count, blob = h.flbs[0]
    blob = bytearray(blob)
    blob[16:24] = blob[8:16]                  # duplicate entry
    h.flbs[0] = (name, pa, count, bytes(blob))
    k1 = next_kernel(k, h)
    assert k1.panic is None
    assert "WARNING: Failed to retrieve incoming FLB data" in k1.log.lines()
    assert not any(d.incoming is not None for d in k1.devices.values())


@pytest.mark.parametrize("how,message", [
    ("count0", "Failed to restore devices KHO block set (-22)"),
    ("duplicate", "Failed to insert PCI device 0000:03:00.0 into xarray (-16)"),
    ("version", "Incoming PCI FLB version (v7) is incompatible with this kernel (v1)"),
])
def test_version_era_retrieve_panics_with_its_own_messages(how, message):
    k, h = corrupt_handover("v8", how)
    with pytest.raises(KernelPanic) as ei:
        next_kernel(k, h)
    assert ei.value.panic_message == message


def test_version_mismatch_between_v8_and_v9_panics():
    k = both_endpoints("v8")
    with pytest.raises(KernelPanic) as ei:
        next_kernel(k, k.kexec(), profile="v9")
    assert ei.value.panic_message == ("Incoming PCI FLB version (v1) is incompatible with "
                                      "this kernel (v2)")


# -- FLB references and pci_flb_finish ------------------------------------------------------
def test_flb_reference_per_device_only_before_the_version_era():
    counts = {}
    for profile in ("v6", "v7", "v8"):
        k = both_endpoints(profile)
        k1 = next_kernel(k, k.kexec())
        counts[profile] = k1.pci_flb.in_count
    # 2 files; v6/v7 add one reference per incoming pci_dev (6 of them), later kernels none
    assert counts == {"v6": 2 + 6, "v7": 2 + 6, "v8": 2}


@pytest.mark.parametrize("profile", ["v8", "v9"])
def test_unfinished_devices_panic_in_pci_flb_finish(profile):
    # DSP1 loses its bus numbers at kexec: EP4 is never enumerated, so its driver never
    # calls pci_liveupdate_finish(); finishing the LUO file still drops the FLB reference
    k = both_endpoints(profile, dsp1={"reset_on_kexec": True})
    k1 = next_kernel(k, k.kexec())
    assert EP4 not in {d.name for d in k1.devices.values()}
    k1.finish(EP3)
    _name, f = k1.luo.find_incoming_file(0x0400)
    with pytest.raises(KernelPanic) as ei:
        k1._guard(k1.luo.finish_file, f)
    assert ei.value.panic_message == "4 preserved device(s) were never finished!"
    emerg = [t for lvl, t in k1.log.entries if lvl == "emerg"]
    never = {t.split("PCI: liveupdate: ")[1] for t in emerg if "was never finished" in t}
    assert never == {f"{n} was never finished!" for n in
                     ("0000:00:01.0", "0000:01:00.0", "0000:02:01.0", EP4)}


def test_v7_leaks_unfinished_devices_without_panic():
    k = both_endpoints("v7", dsp1={"reset_on_kexec": True})
    k1 = next_kernel(k, k.kexec())
    k1.finish(EP3)
    _name, f = k1.luo.find_incoming_file(0x0400)
    k1.luo.finish_file(f)
    assert k1.panic is None and not k1.pci_flb.finished   # bridges still hold references


# -- bus numbers (§13: had_incoming keeps them for the kernel's lifetime) ---------------------
def test_unpreserved_reset_bridge_gets_new_numbers_in_the_version_era():
    for profile, skipped in (("v6", True), ("v7", True), ("v8", False)):
        k = Kernel.boot(switch_fabric(dsp1={"reset_on_kexec": True}), profile=profile)
        k.preserve(EP3)
        k1 = next_kernel(k, k.kexec())
        lines = k1.log.lines()
        msg = "pci 0000:02:01.0: Cannot reconfigure bridge during Live Update, skipping"
        assert (msg in lines) is skipped, profile
        assert (EP4 in {d.name for d in k1.devices.values()}) is not skipped, profile


def test_preserved_bridge_that_lost_its_numbers_blocks_its_siblings():
    k = both_endpoints("v8", dsp1={"reset_on_kexec": True})
    k1 = next_kernel(k, k.kexec())
    assert ("pci 0000:02:01.0: Not assigning bus numbers, preserved bridge 0000:02:01.0 lost "
            "its bus number configuration") in k1.log.lines()
    assert k1.dev("02:01.0").subordinate is None


def test_bus_numbers_stay_inherited_after_finish_in_the_version_era():
    from pcilu_cli.kernel import liveupdate as lu
    got = {}
    for profile in ("v6", "v7", "v8"):
        k = Kernel.boot(switch_fabric(), profile=profile)
        k.preserve(EP3)
        k1 = next_kernel(k, k.kexec())
        rp = k1.dev("00:01.0")
        before = lu.pci_liveupdate_scan_bridge_begin(k1, rp.bus, rp, 0)
        k1.finish(EP3)
        after = lu.pci_liveupdate_scan_bridge_begin(k1, rp.bus, rp, 0)
        got[profile] = (before, after)
    # v6/v7: only unfinished incoming devices force inheritance; later: had_incoming
    assert got == {"v6": (True, False), "v7": (True, False), "v8": (True, True)}


# -- logged refusals (§12 later-only messages) -----------------------------------------------
@pytest.mark.parametrize("profile,logged", [("v6", False), ("v7", False), ("v8", True)])
def test_vf_and_double_preserve_refusals(profile, logged):
    k = Kernel.boot(small_fabric("sriov"), profile=profile)
    vf = next(d for d in k.devices.values() if d.is_virtfn)
    with pytest.raises(KernelRefusal) as ei:
        k.preserve(vf.name)
    assert ei.value.errno_name == "EINVAL"
    assert (f"pci {vf.name}: Cannot preserve Virtual Functions" in k.log.lines()) is logged
    k = Kernel.boot(switch_fabric(), profile=profile)
    k.preserve(EP3)
    with pytest.raises(KernelRefusal) as ei:
        k.preserve(EP3)
    assert ei.value.errno_name == "EBUSY"
    assert (f"pci {EP3}: Device is already preserved" in k.log.lines()) is logged


# -- pci_liveupdate_cleanup_device() (§4.4, §13) ---------------------------------------------
@pytest.mark.parametrize("profile,unpreserves", [("v6", True), ("v7", False), ("v8", False)])
def test_cleanup_of_outgoing_device(profile, unpreserves):
    k = Kernel.boot(switch_fabric(), profile=profile)
    k.preserve(EP3)
    r = k.hot_remove(EP3)
    assert f"WARNING: pci {EP3}: Destroying outgoing-preserved device!" in r["messages"]
    bdfs = {b for _s, _d, b, _r in k.outgoing_entries()}
    assert (B_EP3 not in bdfs) is unpreserves


@pytest.mark.parametrize("profile,finishes,puts", [("v6", True, True), ("v7", False, True),
                                                   ("v8", False, False)])
def test_cleanup_of_incoming_device(profile, finishes, puts):
    k = Kernel.boot(switch_fabric(), profile=profile)
    k.preserve(EP3)
    k1 = next_kernel(k, k.kexec())
    before = k1.pci_flb.in_count
    rp_rc = k1.pci_flb.in_obj.ser.refcount(k1.dev("00:01.0").incoming)
    r = k1.hot_remove(EP3)
    assert f"WARNING: pci {EP3}: Destroying incoming-preserved device!" in r["messages"]
    after_rc = k1.pci_flb.in_obj.ser.refcount(k1.dev("00:01.0").incoming) \
        if k1.dev("00:01.0").incoming is not None else 0
    assert (after_rc == rp_rc - 1) is finishes
    dropped = before - k1.pci_flb.in_count
    # v6's finish drops the EP's reference (bridges keep theirs until they reach 0)
    assert (dropped >= 1) is puts


# -- v6 patch-level profiles -----------------------------------------------------------------
def test_v6_p01_tracks_no_devices():
    k = Kernel.boot(switch_fabric(), profile="v6-p01")
    r = k.preserve(EP3)                       # the file is preserved, the blob allocated
    assert r["messages"] == []
    assert k.outgoing_blob() == struct.pack("<II", 7, 0) + bytes(8 * 7)
    k1 = next_kernel(k, k.kexec())
    assert not any(d.incoming is not None for d in k1.devices.values())


def test_v6_p02_preserves_the_endpoint_only_with_in_use_refcount():
    k = Kernel.boot(switch_fabric(), profile="v6-p02")
    k.preserve(EP3)
    k.preserve(EP4)
    assert k.outgoing_blob() == (struct.pack("<II", 7, 2) + entry(0, B_EP3, 1)
                                 + entry(0, B_EP4, 1) + bytes(8 * 5))
    h = k.kexec()
    # patch 02 has no pci_liveupdate_setup_device() (patch 03 adds incoming tracking)
    k1 = next_kernel(k, h)
    assert not any(d.incoming is not None for d in k1.devices.values())
    k1 = next_kernel(k, h, profile="v6-p03")
    assert {d.name for d in k1.devices.values() if d.incoming is not None} == {EP3, EP4}


# -- cross-profile kexec end to end (Machine; kho-luo-abi.md §6) ----------------------------
def machine(profile, fabric=None):
    from pcilu_cli.state.machine import Machine
    m = Machine.boot(fabric or switch_fabric(), profile=profile)
    m.preserve(EP3)
    return m


def test_machine_block_chain_lands_in_physical_memory():
    m = machine("v9")
    ser = m.kernel.pci_flb.out_obj
    version, nr, head = struct.unpack("<IIQ", m.mem.read(ser.pa, 16))
    assert (version, nr) == (2, 4)
    chain = kho_block_set_restore(m.mem, head, 8)
    assert chain.data == (entry(0, B_EP3, 1) + entry(0, B_DSP0, 1) + entry(0, B_USP, 1)
                          + entry(0, B_RP, 1))
    assert m.alloc.is_preserved(head) and m.alloc.is_preserved(ser.pa)
    m.preserve(EP4)
    nxt = m.kexec()
    assert nxt.kernel.dev(EP3).incoming is not None
    nxt.finish(EP3)                           # refcounts written back into the new memory
    assert kho_block_set_restore(nxt.mem, head, 8).data[:32] == (
        entry(0, B_EP3, 0) + entry(0, B_DSP0, 0) + entry(0, B_USP, 1) + entry(0, B_RP, 1))


def test_cross_profile_kho_mismatch_is_a_silent_non_kho_boot():
    nxt = machine("v6").kexec(profile="v8")
    assert nxt.kho_in["status"] == "no-kho" and nxt.panic is None
    assert any("is incompatible with 'kho-v4'" in line for line in nxt.report()["messages"])
    assert not any(d["incoming"] for d in nxt.report()["devices"])


def test_cross_profile_flb_name_mismatch_means_nothing_incoming():
    nxt = machine("v7").kexec(profile="v8")
    assert nxt.kho_in["status"] == "kho"
    assert "PCI: liveupdate: No incoming FLB matched pci" in nxt.report()["messages"]
    assert not any(d["incoming"] for d in nxt.report()["devices"])


def test_cross_profile_version_mismatch_panics_and_is_recorded():
    with pytest.raises(KernelPanic) as ei:
        machine("v9").kexec(profile="v8")
    nxt = ei.value.machine
    assert nxt.phase == "panicked"
    assert nxt.panic == "Incoming PCI FLB version (v2) is incompatible with this kernel (v1)"


def test_cross_profile_luo_mismatch_panics(monkeypatch):
    # no shipped pair shares a KHO root but not LUO: make one (gen D KHO with the FDT LUO)
    odd = PROFILES["v7"].replace(name="v7-luo-v1", luo_compatible="luo-v1",
                                 aliases=())
    monkeypatch.setitem(PROFILES, odd.name, odd)
    with pytest.raises(KernelPanic) as ei:
        machine(odd.name).kexec(profile="v7")
    assert "The incoming tree failed to initialize properly" in ei.value.panic_message


def test_machine_releases_header_and_blocks_when_the_flb_finishes():
    nxt = machine("v8").kexec()
    pas = [pa for pa, _b in nxt.kernel.incoming_pages()]
    assert len(pas) == 2 and all(pa in nxt.alloc.incoming for pa in pas)
    nxt.finish(EP3)
    assert not any(pa in nxt.alloc.incoming for pa in pas)
