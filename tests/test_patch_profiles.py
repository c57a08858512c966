# SPDX-License-Identifier: GPL-2.0-only
"""One profile per patch of v6: each behaviour appears in the profile of the patch that
introduced it (the patch mails of the series), and not before."""
from __future__ import annotations

import json

import pytest

from pcilu_cli.abi.profiles import PROFILES, get_profile
from pcilu_cli.kernel import Kernel
from pcilu_cli.kernel import faults
from tests.inmemory_kexec import next_kernel
from tests.kernel_fabrics import switch_fabric
from tests.pcilu_run import run

EP3, DSP0, USP, RP = "0000:03:00.0", "0000:02:00.0", "0000:01:00.0", "0000:00:01.0"
PATCHES = [f"v6-p{n:02d}" for n in range(1, 12)] + ["v6"]


def gen1(profile, **knobs):
    """Preserve EP3 under a profile, kexec into the same profile."""
    k = Kernel.boot(switch_fabric(**knobs), profile=profile)
    k.preserve(EP3)
    return k, next_kernel(k, k.kexec())


def test_every_patch_has_a_profile_and_v6_is_patch_12():
    assert [get_profile(n).patch for n in PATCHES] == list(range(1, 13))
    assert get_profile("v6-p12") is get_profile("v6")
    # the compat string of each stretch of the series (spec §1.3)
    assert {get_profile(n).pci_compatible for n in PATCHES[:1]} == {"pci-v1"}
    assert {get_profile(n).pci_compatible for n in PATCHES[1:5]} == {"pci-v2"}
    assert {get_profile(n).pci_compatible for n in PATCHES[5:]} == {"pci-v3"}
    # the old names keep working
    assert get_profile("pci-v1").name == "v6-p01" and get_profile("pci-v3").name == "v6"
    assert get_profile("pci-v2").pci_compatible == "pci-v2"


def test_profiles_lists_what_each_patch_adds():
    doc = json.loads(run(["profiles", "--json"]).stdout)
    rows = {r["name"]: r for r in doc["profiles"]}
    assert all(rows[n]["adds"] for n in PATCHES)
    assert [rows[n]["v6_patch"] for n in PATCHES] == list(range(1, 13))
    text = run(["profiles"]).stdout
    for n in PATCHES[:-1]:
        assert f"  {n}  " in text
    assert "Inherit ARI Forwarding Enable" in text


@pytest.mark.parametrize("profile", PATCHES)
def test_incoming_tracking_arrives_in_patch_03(profile):
    # pci_liveupdate_setup_device() is added by patch 03
    _k, k1 = gen1(profile)
    assert k1.is_incoming(EP3) == (get_profile(profile).patch >= 3)


@pytest.mark.parametrize("profile", PATCHES[1:])
def test_bridges_are_auto_preserved_from_patch_06(profile):
    # pci_liveupdate_preserve_path() (patch 06) walks up to the root port
    k = Kernel.boot(switch_fabric(), profile=profile)
    k.preserve(EP3)
    assert k.is_outgoing(RP) == (get_profile(profile).patch >= 6)


@pytest.mark.parametrize("profile", PATCHES[2:])
def test_bus_numbers_are_inherited_from_patch_05(profile):
    # pci_liveupdate_scan_bridge_begin() (patch 05): while incoming devices are unfinished,
    # a bridge scan inherits bus numbers (pci=assign-busses is ignored)
    from pcilu_cli.kernel import liveupdate as lu
    _k, k1 = gen1(profile)
    assert k1.is_incoming(EP3)
    usp = k1.dev(USP)
    assert lu.pci_liveupdate_scan_bridge_begin(k1, usp.bus, usp, 0) == \
        (get_profile(profile).patch >= 5)


@pytest.mark.parametrize("profile", ["v6-p07", "v6-p08"])
def test_acs_quirk_refusal_arrives_in_patch_08(profile):
    # pci_liveupdate_preserve_device(): "Refusing to preserve device that relies on ACS
    # quirks" (patch 08)
    k = Kernel.boot(switch_fabric(rp={"acs_quirk": True}), profile=profile)
    refused = False
    try:
        k.preserve(EP3)
    except Exception as exc:                        # KernelRefusal
        refused = getattr(exc, "errno_name", None) == "EINVAL"
    assert refused == (profile == "v6-p08")


@pytest.mark.parametrize("profile", ["v6-p07", "v6-p08"])
def test_acs_inheritance_arrives_in_patch_08(profile):
    # pci_liveupdate_init_acs() / pci_liveupdate_enable_acs() (patch 08)
    _k, k1 = gen1(profile)
    assert k1.dev(RP).acs_inherited == (profile == "v6-p08")
    assert k1.dev(RP).was_preserved == (profile == "v6-p08")


@pytest.mark.parametrize("profile", ["v6-p08", "v6-p09"])
def test_ari_inheritance_arrives_in_patch_09(profile):
    # pci_liveupdate_configure_ari() (patch 09)
    _k, k1 = gen1(profile)
    assert k1.dev(DSP0).ari_inherited == (profile == "v6-p09")


@pytest.mark.parametrize("profile", ["v6-p09", "v6-p10"])
def test_freeze_arrives_in_patch_10(profile):
    # pci_liveupdate_freeze() from pci_device_shutdown() (patch 10)
    k = Kernel.boot(switch_fabric(), profile=profile)
    k.freeze()
    refused = None
    try:
        k.preserve(EP3)
    except Exception as exc:
        refused = exc.errno_name
    assert refused == ("EINVAL" if profile == "v6-p10" else None)


@pytest.mark.parametrize("profile", ["v6-p10", "v6-p11"])
def test_bus_master_kept_at_kexec_from_patch_11(profile):
    # pci_device_shutdown(): !pci_liveupdate_is_outgoing(dev) before pci_clear_master()
    # (patch 11)
    _k, k1 = gen1(profile)
    bme = bool(k1.dev(EP3).fn.cfg.read(0x04, 2) & 0x4)
    assert bme == (profile == "v6-p11")


def test_patch_03_finish_wants_refcount_exactly_one():
    # pci_liveupdate_finish_device() of patch 03: refcount != 1 -> pci_WARN "Preserved device
    # has a corrupted refcount!" and return (the device stays incoming)
    _k, k1 = gen1("v6-p03")
    faults.corrupt(k1, "incoming", "refcount", 2, bdf=EP3)
    k1.finish(EP3)
    assert f"WARNING: pci {EP3}: Preserved device has a corrupted refcount!" in k1.log.lines()
    assert k1.is_incoming(EP3)
    # from patch 06 the same entry is decremented instead
    _k, k6 = gen1("v6-p06")
    faults.corrupt(k6, "incoming", "refcount", 2, bdf=EP3)
    k6.finish(EP3)
    assert "corrupted" not in " ".join(k6.log.lines()) and k6.is_incoming(EP3)
    assert k6.pci_flb.in_obj.ser.refcount(k6.dev(EP3).incoming) == 1


def test_patch_02_preserves_one_device_and_refuses_a_second_preserve():
    # pci_liveupdate_preserve_device() of patch 02: any device already outgoing is -EBUSY
    # (bridges too: "preserve again" arrives with the refcounts of patch 06)
    k = Kernel.boot(switch_fabric(), profile="v6-p02")
    k.preserve(USP)
    with pytest.raises(Exception) as ei:
        k.preserve(USP, session="again")
    assert ei.value.errno_name == "EBUSY"


def test_matrix_default_keeps_one_profile_per_era():
    # the per-patch profiles are listed, the default matrix stays small
    from pcilu_cli.abi.profiles import matrix_profiles
    assert set(matrix_profiles()) < set(PROFILES)
    assert {"v6-p01", "v6-p02", "v6", "v7", "v8", "v9"} == set(matrix_profiles())
