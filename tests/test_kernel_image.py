# SPDX-License-Identifier: GPL-2.0-only
"""`pcilu kernel IMAGE`: a user points pcilu at a kernel build and learns whether it can take
part in a Live Update and which profile speaks its ABI — for builds the tests make (one per
profile, every payload compression), for this machine's /proc/config.gz, and for a real
Debian kernel package when `make kernels` could fetch one."""
from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import pytest

from tests import kernel_builds as kb
from tests.conftest import ROOT
from tests.pcilu_run import run

KERNEL_CACHE = ROOT / ".cache/kernels"


def kernel_json(path, exit_code=0):
    return run(["kernel", path, "--json"], exit_code=exit_code).json()


@pytest.mark.parametrize("profile", list(kb.SERIES))
def test_an_unpacked_package_of_each_series_names_its_profile(tmp_path, profile):
    d = kb.build_dir(tmp_path / "pkg", profile)
    doc = kernel_json(d)
    assert doc["kind"] == "kernel_image"
    assert doc["profile"] == profile
    assert doc["live_update_capable"] is True
    assert doc["config"] == {"KEXEC_HANDOVER": True, "LIVEUPDATE": True, "PCI_LIVEUPDATE": True}
    s = kb.SERIES[profile]
    assert doc["abi"]["kho"] == s["kho"] and doc["abi"]["luo"] == s["luo"]
    assert doc["abi"]["pci_flb"] == (s["pci"] or "pci")
    assert doc["abi"]["pci_version"] == s["version"]
    assert doc["release"] == f"7.1.0-{profile}"


@pytest.mark.parametrize("kind", ["gzip", "xz", "lzma", "bzip2", "zstd", "lz4"])
@pytest.mark.parametrize("header_offsets", [True, False], ids=["header", "scan"])
def test_a_bzimage_payload_is_found_and_inflated(tmp_path, kind, header_offsets):
    img = tmp_path / "vmlinuz"
    img.write_bytes(kb.bzimage(kb.for_profile("v7", "7.2.0-rc1"), kind, "7.2.0-rc1",
                               header_offsets=header_offsets))
    doc = kernel_json(img)
    assert doc["profile"] == "v7"
    assert doc["release"] == "7.2.0-rc1"
    assert doc["inputs"][0]["payload"] == kind
    # no config in a bare image: the options are inferred from the code it carries
    assert doc["config_source"] == "inferred from the image"
    assert doc["config"]["KEXEC_HANDOVER"] is True


def test_a_vmlinux_without_handover_code_cannot_take_part(tmp_path):
    img = tmp_path / "vmlinux"
    img.write_bytes(kb.vmlinux("6.12.9"))
    doc = kernel_json(img)
    assert doc["profile"] is None and doc["live_update_capable"] is False
    assert doc["config"] == {"KEXEC_HANDOVER": False, "LIVEUPDATE": False,
                             "PCI_LIVEUPDATE": False}
    assert doc["reason"].startswith("this kernel cannot take part in a Live Update:")


def test_an_unknown_abi_names_what_it_found_and_the_nearest_profile(tmp_path):
    img = tmp_path / "vmlinux"
    img.write_bytes(kb.vmlinux("7.9.0", "kho-v3", "luo-v1", "pci-v4"))
    doc = kernel_json(img)
    assert doc["profile"] is None
    assert doc["nearest_profile"] == "v6"
    assert doc["reason"].startswith("unknown ABI: ")
    assert "pci_flb=pci-v4" in doc["reason"] and "nearest profile v6" in doc["reason"]


def test_patch_levels_sharing_an_abi_are_named(tmp_path):
    img = tmp_path / "vmlinux"
    img.write_bytes(kb.vmlinux("7.0.0", "kho-v3", "luo-v1", "pci-v2"))
    doc = kernel_json(img)
    # the per-patch v6 profiles 02..05 all carry "pci-v2": the one aliased pci-v2 is taken
    assert doc["profile"] == "v6-p05"
    assert "v6-p02" in doc["reason"] and "cannot be told apart" in doc["reason"]


def test_the_version_era_without_headers_assumes_the_latest_and_says_so(tmp_path):
    img = tmp_path / "vmlinux"
    img.write_bytes(kb.for_profile("v8"))
    doc = kernel_json(img)
    assert doc["abi"]["pci_flb"] == "pci" and doc["abi"]["pci_version"] is None
    assert doc["profile"] == "v9"
    assert "PCI_LUO_FLB_VERSION" in doc["reason"]


def test_a_config_with_live_update_off_cannot_take_part(tmp_path):
    cfg = tmp_path / "config-7.1.0"
    cfg.write_text(kb.config("7.1.0", pci=False))
    doc = kernel_json(cfg)
    assert doc["release"] == "7.1.0"
    assert doc["config"] == {"KEXEC_HANDOVER": True, "LIVEUPDATE": True,
                             "PCI_LIVEUPDATE": False}
    assert "CONFIG_PCI_LIVEUPDATE is not set" in doc["reason"]
    assert doc["live_update_capable"] is False


def test_a_config_alone_is_capable_but_names_no_profile(tmp_path):
    cfg = tmp_path / "config.gz"
    cfg.write_bytes(gzip.compress(kb.config("7.1.0").encode()))
    doc = kernel_json(cfg)
    assert doc["live_update_capable"] is True and doc["profile"] is None
    assert "image" in doc["reason"]


def test_an_old_config_predates_kho(tmp_path):
    cfg = tmp_path / "config-6.1.0"
    cfg.write_text(kb.config("6.1.0", kho=False, luo=False, pci=False, mention_absent=False))
    doc = kernel_json(cfg)
    assert "predates KHO" in doc["reason"]


@pytest.mark.skipif(not Path("/proc/config.gz").is_file(), reason="no /proc/config.gz here")
def test_the_running_kernels_config_gets_the_verdict_its_options_say():
    text = gzip.decompress(Path("/proc/config.gz").read_bytes()).decode()
    on = {o: bool(re.search(rf"^CONFIG_{o}=[ym]$", text, re.M))
          for o in ("KEXEC_HANDOVER", "LIVEUPDATE", "PCI_LIVEUPDATE")}
    doc = kernel_json("/proc/config.gz")
    assert doc["config"] == on
    assert os.uname().release.startswith(doc["release"])
    assert doc["live_update_capable"] is all(on.values())
    if not all(on.values()):
        assert doc["reason"].startswith("this kernel cannot take part in a Live Update")


def _debian_packages():
    return sorted(KERNEL_CACHE.glob("linux-image-*.deb")) if KERNEL_CACHE.is_dir() else []


@pytest.mark.slow
@pytest.mark.skipif(not _debian_packages(),
                    reason="no Debian kernel package in .cache/kernels (`make kernels` "
                    "fetches one with apt-get download)")
def test_a_real_debian_kernel_package_predates_kho():
    deb = _debian_packages()[0]
    doc = kernel_json(deb)
    version = re.search(r"linux-image-(\d+)\.(\d+)", deb.name)
    assert doc["release"].startswith(f"{version.group(1)}.{version.group(2)}")
    whats = {i["what"] for i in doc["inputs"]}
    assert whats == {"config", "bzImage"}
    assert doc["live_update_capable"] is False and doc["profile"] is None
    assert "CONFIG_KEXEC_HANDOVER is not set" in doc["reason"]
    assert doc["abi"] == {"kho": None, "luo": None, "pci_flb": None, "pci_version": None}


# ---- bad images: one line, exit 3 -----------------------------------------------------------

@pytest.mark.parametrize("kind", ["gzip", "xz", "zstd", "lz4"])
def test_a_truncated_payload_is_one_line_exit_3(tmp_path, kind):
    img = tmp_path / "vmlinuz"
    img.write_bytes(kb.bzimage(kb.for_profile("v6") * 50, kind, cut=200))
    r = run(["kernel", img], exit_code=3)
    assert str(img) in r.stderr and "truncated" in r.stderr


def test_a_payload_cut_inside_when_the_header_does_not_say_its_length(tmp_path):
    img = tmp_path / "vmlinuz"
    img.write_bytes(kb.bzimage(kb.for_profile("v6") * 50, "xz", header_offsets=False,
                               cut=200))
    r = run(["kernel", img, "--json"], exit_code=3)
    assert r.json()["kind"] == "error" and r.json()["field"] == "payload"


def test_not_a_kernel_is_one_line_exit_3(tmp_path):
    f = tmp_path / "photo.jpg"
    f.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2000))
    r = run(["kernel", f, "--json"], exit_code=3)
    assert r.json()["kind"] == "error" and "not a kernel image" in r.json()["message"]


def test_a_config_without_version_line_is_one_line_exit_3(tmp_path):
    cfg = tmp_path / ".config"
    cfg.write_text(kb.config(version_line=False))
    r = run(["kernel", cfg], exit_code=3)
    assert "no version line" in r.stderr and f"{cfg}:1" in r.stderr


def test_an_empty_directory_is_one_line_exit_3(tmp_path):
    run(["kernel", tmp_path], exit_code=3)


def test_inflation_stops_at_the_cap_and_says_so(tmp_path, monkeypatch):
    from pcilu_cli.abi import kernel_image
    monkeypatch.setattr(kernel_image, "INFLATE_MIN", 1 << 20)
    monkeypatch.setattr(kernel_image, "INFLATE_FACTOR", 1)
    img = tmp_path / "vmlinuz"
    # the ABI strings sit after 4 MiB of zeros: beyond a 1 MiB cap
    elf = kb.vmlinux("7.1.0", "kho-v3", "luo-v1", "pci-v3", filler=4 << 20)
    img.write_bytes(kb.bzimage(elf, "gzip"))
    doc = kernel_image.analyse(img)
    assert doc["inputs"][0]["inflate_capped_at"] == 1 << 20
    assert any("inflated only to" in n for n in doc["notes"])
    # what was not seen is unknown, not absent
    assert doc["config"]["KEXEC_HANDOVER"] is None


# ---- --kernel wherever --profile is ---------------------------------------------------------

FABRIC = ROOT / "fixtures/fabrics/qemu-virtio-net.yaml"


def test_init_and_kexec_take_their_profile_from_kernel_builds(tmp_path):
    old = kb.build_dir(tmp_path / "old", "v8")
    new = tmp_path / "vmlinuz-new"
    new.write_bytes(kb.bzimage(kb.for_profile("v6"), "zstd"))
    g0 = tmp_path / "g0.elf"
    assert run(["init", FABRIC, "-o", g0, "--kernel", old, "--json"]).json()["profile"] == "v8"
    run(["preserve", g0, "01:00.0"])
    doc = run(["kexec", g0, "-o", tmp_path / "g1.elf", "--kernel", new, "--json"]).json()
    assert doc["profile"] == "v6"
    # v8 -> v6: different FLB name, nothing incoming (the kernel's failure policy)
    assert not any(d["incoming"] for d in doc["devices"])


def test_kernel_that_cannot_take_part_is_refused_as_input(tmp_path):
    img = tmp_path / "vmlinux"
    img.write_bytes(kb.vmlinux("6.12.9"))
    r = run(["init", FABRIC, "-o", tmp_path / "g0.elf", "--kernel", img], exit_code=3)
    assert "cannot take part in a Live Update" in r.stderr
    assert not (tmp_path / "g0.elf").exists()
    run(["init", FABRIC, "-o", tmp_path / "g0.elf", "--kernel", img, "--profile", "v6"],
        exit_code=2)


def test_profiles_matrix_takes_kernel_builds(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(kb.for_profile("v6"))
    b.write_bytes(kb.for_profile("v7"))
    doc = run(["profiles", "--matrix", "--kernel", a, "--kernel", b, "--json"]).json()
    assert doc["profiles"] == ["v6", "v7"]
    assert {(c["from"], c["to"]) for c in doc["cells"]} == {
        ("v6", "v6"), ("v6", "v7"), ("v7", "v6"), ("v7", "v7")}


def test_a_scenario_names_its_kernels_by_build(tmp_path):
    kb.build_dir(tmp_path / "running", "v8")
    (tmp_path / "next.vmlinux").write_bytes(kb.for_profile("v8"))  # -> v9, assumed
    sc = tmp_path / "s.yaml"
    sc.write_text(f"""pcilu_scenario: 1
fabric: {FABRIC}
kernel: running
steps:
  - preserve: 0000:01:00.0
  - kexec: {{kernel: next.vmlinux}}
""")
    # the running build speaks v8 (its headers say version 1); the next image carries no
    # headers, so it is taken as v9: the version check panics the new kernel
    r = run(["rehearse", sc, "--json"], exit_code=6)
    assert r.json()["kind"] == "rehearsal"
    assert "step 2 (kexec (profile v9))" in r.stderr
    assert "Incoming PCI FLB version (v1) is incompatible with this kernel (v2)" in r.stderr


def test_a_scenario_with_a_bad_kernel_names_the_line(tmp_path):
    sc = tmp_path / "s.yaml"
    sc.write_text(f"pcilu_scenario: 1\nfabric: {FABRIC}\nkernel: nope.img\n"
                  "steps:\n  - preserve: 0000:01:00.0\n")
    r = run(["rehearse", sc], exit_code=3)
    assert f"{sc}:3" in r.stderr
