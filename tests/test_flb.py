# SPDX-License-Identifier: GPL-2.0-only
"""The PCI FLB (File-Lifecycle-Bound data): its size and lifetime, ``pci_flb_retrieve()`` of an
incoming blob, and LUO's FLB failure paths (pci-liveupdate-v6.md §1.5, §3, §12; LUO's
``kernel/liveupdate/luo_flb.c``). Each test names the kernel function or section it pins.
"""
from __future__ import annotations

import struct
from pathlib import Path

import pcilu
from pcilu_cli.fabric.build import small_fabric
from pcilu_cli.kernel import Kernel, faults, liveupdate as lu
from pcilu_cli.kernel.luo import LUO_FLB_MAX, FileHandler, Flb, Luo
from tests.inmemory_kexec import InMemoryIncoming, next_kernel
from tests.kernel_fabrics import EINVAL, RP, USP, DSP0, EP0, EP1, entry, hdr, switch_fabric
from tests.pcilu_run import run


# == §3 FLB lifecycle =========================================================================
def test_s3_2_max_nr_devices_counts_every_pci_dev_including_vfs():
    k = Kernel.boot(small_fabric("sriov"), params="dyndbg=+p")
    n = len(k.devices)
    assert sum(d.is_virtfn for d in k.devices.values()) == 4 and n == 7
    k.preserve("01:00.0")
    assert hdr(k.outgoing_blob()) == (n, 2)
    assert f"PCI: liveupdate: Preserved struct pci_ser with room for {n} devices" \
        in k.log.lines(debug=True)
    k.unpreserve("01:00.0")
    assert k.outgoing_blob() is None
    assert k.log.lines(debug=True)[-1] == "PCI: liveupdate: Unpreserved struct pci_ser"


# == §1.5 / §3.4 retrieve =====================================================================
def test_s1_5_domain_is_shifted_in_64_bits_so_no_collision():
    fab = small_fabric("virtio")
    blob = struct.pack("<II", 2, 2) + entry(0x10000, 0x100, 1) + entry(0, 0x100, 1)
    k = Kernel.boot(fab, incoming=InMemoryIncoming.from_raw_blob(fab, blob, "pci-v3"))
    assert set(k.pci_flb.in_obj.xa) == {0x1_0000_0100, 0x100}
    assert k.is_incoming("01:00.0")


def test_s3_4_duplicate_is_retried_on_every_lookup_and_warns_once():
    """liveupdate_flb_get_incoming() reruns luo_flb_retrieve_one() while no object is cached
    (a failure is not remembered): every lookup — pci_liveupdate_setup_device() of each
    function, pci_liveupdate_scan_bridge_begin() pass 0 of each bridge scan,
    pci_liveupdate_finish() — calls pci_flb_retrieve() again, which kho_restore_free()s the
    same blob each time; WARN_ONCE prints once."""
    fab = small_fabric("virtio")
    blob = struct.pack("<II", 3, 1) + entry(0, 0x100, 1) + bytes(8) + entry(0, 0x100, 1)
    inc = InMemoryIncoming.from_raw_blob(fab, blob, "pci-v3")
    calls = []
    orig = lu.pci_flb_retrieve

    def counting(k, data):
        calls.append(data)
        return orig(k, data)
    lu.pci_flb_retrieve = counting
    try:
        k = Kernel.boot(fab, incoming=inc)
        at_boot = len(calls)
        k.rescan()
        after_rescan = len(calls)
        lu.pci_liveupdate_finish(k, k.dev("01:00.0"))
    finally:
        lu.pci_flb_retrieve = orig
    bridges = sum(1 for d in k.devices.values() if d.is_bridge)
    assert at_boot == len(k.devices) + bridges        # one per setup_device, one per bridge
    assert after_rescan == at_boot + bridges          # known devices: only the bridge scans
    assert len(calls) == after_rescan + 1             # and the finish
    assert k.incoming_free_calls == len(calls) > 1    # the same blob freed every time
    assert k.incoming_freed_pages == [inc.flb("pci-v3")[0]]
    assert "double free" in k.findings()[0] and f"{len(calls)} times" in k.findings()[0]
    lines = k.log.lines()
    assert lines.count("WARNING: Failed to retrieve incoming FLB data") == 1
    assert "No incoming FLB matched pci-v3" not in " ".join(lines)
    assert lines[-1] == "pci 0000:01:00.0: Cannot finish preserving device without incoming FLB"


def test_s3_4_no_match_is_pr_info_once_with_pr_fmt():
    fab = small_fabric("switch")
    blob = struct.pack("<II", 1, 1) + entry(0, 0x300, 1)
    k = Kernel.boot(fab, incoming=InMemoryIncoming.from_raw_blob(fab, blob, "pci-v2"))
    k.rescan()
    lu.pci_liveupdate_finish(k, k.dev("03:00.0"))
    assert k.log.lines().count("PCI: liveupdate: No incoming FLB matched pci-v3") == 1
    assert k.log.entries[0][0] == "info"


# == §12 catalogue details ====================================================================
def test_s12_register_flb_debug_line_and_levels():
    k = Kernel.boot(small_fabric("virtio"), params="dyndbg=+p")
    assert k.log.entries[0] == ("debug",
                                'PCI: liveupdate: Registering file handler "vfio-pci-v1"')
    k.preserve("01:00.0")
    levels = {t: l for l, t in k.log.entries}
    assert levels["pci 0000:01:00.0: Device will be preserved across next Live Update"] \
        == "info"


def test_duplicate_entries_warn_and_nothing_is_incoming():
    fab = small_fabric("virtio")
    blob = struct.pack("<II", 3, 2) + entry(0, 0x100, 1) + entry(0, 0x100, 1) + bytes(8)
    inc = InMemoryIncoming.from_raw_blob(fab, blob, "pci-v3")
    k = Kernel.boot(fab, incoming=inc)
    assert k.log.lines().count("WARNING: Failed to retrieve incoming FLB data") == 1
    assert not any(d.incoming is not None for d in k.devices.values())
    k.rescan()                               # retried (not cached), but WARN_ONCE
    assert k.log.lines().count("WARNING: Failed to retrieve incoming FLB data") == 1


def test_other_compat_string_means_no_incoming_flb():
    fab = small_fabric("virtio")
    blob = struct.pack("<II", 3, 2) + entry(0, 0x100, 1) + entry(0, 0x8, 1) + bytes(8)
    k = Kernel.boot(fab, incoming=InMemoryIncoming.from_raw_blob(fab, blob, "pci-v2"))
    assert k.log.lines() == ["PCI: liveupdate: No incoming FLB matched pci-v3"]


def test_raw_blob_boot_counts_endpoint_files():
    fab = small_fabric("virtio")
    blob = struct.pack("<II", 3, 2) + entry(0, 0x100, 1) + entry(0, 0x8, 1) + bytes(8)
    inc = InMemoryIncoming.from_raw_blob(fab, blob, "pci-v3")
    assert inc.flb("pci-v3")[1] == 1
    k = Kernel.boot(fab, incoming=inc)
    assert k.is_incoming("01:00.0") and k.is_incoming("00:01.0")
    k.finish("01:00.0")
    assert k.pci_flb.finished


# == FLB failure paths =======================================================================
# LUO's FLB failure paths as the published ``kernel/liveupdate/luo_flb.c`` (the refcounted
# ``next`` branch v6 depends on) and v6's ``drivers/pci/liveupdate.c`` have them. Each test
# names the kernel function its expectation comes from.
QEMU = str(Path(__file__).resolve().parents[1] / "fixtures" / "fabrics" / "qemu-virtio-net.yaml")


def dup_blob():
    # EP 03:00.0 twice: xa_insert() fails with -EBUSY in pci_flb_retrieve()
    return struct.pack("<II", 3, 2) + entry(0, 0x300, 1) + entry(0, 0x300, 1) + bytes(8)


def test_failed_retrieve_reloads_the_count_from_the_record_every_time():
    # luo_flb_retrieve_one(): refcount_set(incoming.count, record count) before ops->retrieve,
    # and nothing remembers the failure, so each liveupdate_flb_get_incoming() starts over
    fab = switch_fabric()
    k = Kernel.boot(fab, incoming=InMemoryIncoming.from_raw_blob(fab, dup_blob(), "pci-v3"))
    f = k.pci_flb
    assert not f.retrieved and f.retrieve_failures == f.retrieve_calls > 1
    record_count = k.luo.incoming.flb("pci-v3")[1]
    f.in_count = 99                                 # whatever was left ...
    before = f.retrieve_calls
    lu.pci_liveupdate_flb_get_incoming(k)
    assert f.in_count == record_count               # ... the next lookup reloads it
    assert f.retrieve_calls == before + 1
    assert k.incoming_free_calls == f.retrieve_calls   # pci_flb_retrieve(): kho_restore_free()


def test_last_put_after_failed_retrieve_retries_warns_and_does_not_finish():
    # liveupdate_flb_put_incoming(): refcount_dec_and_test() reaches 0, nothing retrieved ->
    # luo_flb_retrieve_one() again; WARN_ON(err) and return before ops->finish()
    fab = switch_fabric()
    k = Kernel.boot(fab, incoming=InMemoryIncoming.from_raw_blob(fab, dup_blob(), "pci-v3"))
    f = k.pci_flb
    f.in_count = 1
    calls = f.retrieve_calls
    lu.pci_liveupdate_flb_put_incoming(k)
    assert f.retrieve_calls == calls + 1 and not f.finished
    assert any("liveupdate_flb_put_incoming(): WARN_ON(err)" in ln for ln in k.log.lines())
    k.rescan()                                      # later lookups retry again
    assert f.retrieve_calls > calls + 1 and not f.finished


def test_a_file_finished_before_any_lookup_counts_from_zero_and_finishes_nothing():
    # Patch 02 has no pci_liveupdate_setup_device(): nobody calls
    # liveupdate_flb_get_incoming(), so the count was never loaded; luo_flb_file_finish() ->
    # liveupdate_flb_put_incoming() underflows the refcount_t (it saturates with a WARN) and
    # never reaches the 0 -> finish() transition
    k = Kernel.boot(switch_fabric(), profile="v6-p02")
    k.preserve(EP0)
    k1 = next_kernel(k, k.kexec())
    f = k1.pci_flb
    assert f.in_count == 0 and f.retrieve_calls == 0
    k1.finish(EP0)
    assert f.saturated and not f.finished and f.retrieve_calls == 0
    assert "WARNING: refcount_t: underflow; use-after-free." in k1.log.lines()


def test_the_count_finishes_at_exactly_zero():
    # liveupdate_flb_put_incoming(): finish() only when refcount_dec_and_test() hits 0
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)
    k.preserve(EP1)
    k1 = next_kernel(k, k.kexec())
    f = k1.pci_flb
    k1.finish(EP0)
    assert f.in_count > 0 and not f.finished
    k1.finish(EP1)
    assert f.in_count == 0 and f.finished
    assert k1.report()["flb"]["finished"] and k1.incoming_free_calls == 1


def _corrupted():
    k = Kernel.boot(switch_fabric())
    k.preserve(EP0)                                 # EP0, DSP0, USP, RP at refcount 1
    faults.corrupt(k, "outgoing", "refcount", 0xFFFF, bdf=DSP0)   # +1 wraps the u16 to 0
    faults.corrupt(k, "outgoing", "refcount", 0, bdf=RP)          # preserve-again fails here
    return k, k.pci_flb.out_obj


def test_rollback_undoes_the_path_below_the_failing_device():
    # pci_liveupdate_preserve_path(): on failure at X, __pci_liveupdate_unpreserve_path(start,
    # X) undoes start .. below X
    k, ser = _corrupted()
    usp = ser.refcount(k.dev(USP).outgoing)
    assert lu.pci_liveupdate_preserve(k, k.dev(EP1)) == EINVAL    # EP1, DSP1, USP, RP fails
    assert f"WARNING: pci {RP}: Preserved device with 0 refcount!" in k.log.lines()
    assert k.dev(EP1).outgoing is None and k.dev("0000:02:01.0").outgoing is None
    assert ser.refcount(k.dev(USP).outgoing) == usp


def test_rollback_of_a_path_stops_at_the_first_failing_unpreserve():
    # __pci_liveupdate_unpreserve_path() returns at the first pci_liveupdate_unpreserve_device()
    # that fails: DSP0 (wrapped to 0) is met first, so USP keeps the increment it got
    k, ser = _corrupted()
    usp = ser.refcount(k.dev(USP).outgoing)
    assert lu.pci_liveupdate_preserve(k, k.dev(DSP0)) == EINVAL   # DSP0, USP, RP fails
    assert f"WARNING: pci {DSP0}: Preserved device has a 0 refcount!" in k.log.lines()
    assert ser.refcount(k.dev(USP).outgoing) == usp + 1


def test_register_flb_checks_the_table_before_the_duplicate_name():
    # liveupdate_register_flb(): for an FLB not yet registered, LUO_FLB_MAX (-ENOSPC) is
    # tested before the unique-compatible walk (-EEXIST)
    luo = Luo(True)
    fh = FileHandler("h", None)
    assert luo.register_file_handler(fh) == 0
    assert luo.liveupdate_register_flb(fh, Flb("pci-v3", None)) == 0
    assert luo.liveupdate_register_flb(fh, Flb("pci-v3", None)) == -17       # EEXIST
    for i in range(LUO_FLB_MAX - 1):
        assert luo.liveupdate_register_flb(fh, Flb(f"x{i}", None)) == 0
    assert len(luo.flbs) == LUO_FLB_MAX == 63       # (4096 - 16) / 64 (luo_flb.c)
    assert luo.liveupdate_register_flb(fh, Flb("pci-v3", None)) == -28       # ENOSPC
    assert Luo(False).liveupdate_register_flb(fh, Flb("y", None)) == -95     # EOPNOTSUPP


def blob_of(*bdfs) -> bytes:
    """A flex-era struct pci_ser, room for 3, with one refcount-1 entry per BDF key."""
    return struct.pack("<II", 3, len(bdfs)) + b"".join(entry(0, b, 1) for b in bdfs) + \
        bytes(8 * (3 - len(bdfs)))


def test_enumerate_json_reports_the_double_free_and_the_flb(tmp_path):
    # pci_flb_retrieve() error path: kho_restore_free(ser) on every failed attempt
    m = pcilu.boot_from_blob(QEMU, blob_of(0x100, 0x100), flb_count=1)
    doc = m.enumerate()
    flb = doc["flb"]
    assert flb["retrieved"] is False and flb["finished"] is False
    assert flb["blob_frees"] == flb["retrieve_failures"] > 1
    assert flb["incoming_refcount"] == 1            # the record's count, reloaded
    assert any("double free" in f and f"{flb['blob_frees']} times" in f
               for f in doc["findings"])
    m.save(tmp_path / "g1.elf")                      # and a person reads it in the terminal
    assert "finding: double free" in run(["enumerate", tmp_path / "g1.elf"]).stdout


def test_flb_name_option_names_the_record(tmp_path):
    # luo_flb_retrieve_one(): records are matched by strcmp() of the name
    doc = pcilu.boot_from_blob(QEMU, blob_of(0x100, 0x8), flb_name="pci-v2").enumerate()
    assert not any(d["incoming"] for d in doc["devices"])
    assert "PCI: liveupdate: No incoming FLB matched pci-v3" in doc["messages"]
    (tmp_path / "blob.bin").write_bytes(blob_of(0x100, 0x8))
    r = run(["kexec", "--fabric", QEMU, "--flb", tmp_path / "blob.bin",
             "--flb-name", "x" * 48, "-o", tmp_path / "g1.elf"], exit_code=2)
    assert "--flb-name" in r.stderr
