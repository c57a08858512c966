# SPDX-License-Identifier: GPL-2.0-only
"""Fabric files: real lspci dumps and sysfs snapshots in, `lspci -F`-readable dumps out, YAML
fixtures round-tripped, and bad input reported as one line with file:line (exit 3)."""
from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from pcilu_cli.errors import BadInput
from pcilu_cli.fabric import load_fabric
from pcilu_cli.fabric.lspci import export_dump, parse_dump
from pcilu_cli.fabric.yamlfmt import dump_yaml, load_yaml_text

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
DUMPS = sorted(p for p in (SHARED / "data/lspci").glob("*") if p.name != "SHA256SUMS") \
    if (SHARED / "data/lspci").is_dir() else \
    sorted(p for p in (REPO / "fixtures/lspci").glob("*") if p.name.islower() and "." not in
           p.name and p.name != "SHA256SUMS")
TARBALLS = sorted((SHARED / "data/sysfs").glob("*.tar.bz2"))
FIXTURES = sorted((REPO / "fixtures/fabrics").glob("*.yaml"))
LSPCI = shutil.which("lspci")


def _lspci(path, *args):
    return subprocess.run([LSPCI, "-F", str(path), "-D", *args], capture_output=True,
                          text=True, check=True).stdout


def _blocks(text):
    """lspci -vvv output split per function: {bdf: block}."""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^([0-9a-f]{4,6}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) ", line)
        if m:
            cur = out.setdefault(m.group(1), [])
        if cur is not None:
            cur.append(line)
    return out


def _facts(block):
    """What the live update cares about, as lspci decodes it."""
    text = "\n".join(block)
    grab = lambda pat: re.findall(pat, text)  # noqa: E731
    return {"bus": grab(r"Bus: primary=\w+, secondary=\w+, subordinate=\w+"),
            "bme": grab(r"BusMaster[+-]"), "acsctl": grab(r"ACSCtl:.*"),
            "arifwd": grab(r"ARIFwd[+-]")}


# -- lspci dumps -------------------------------------------------------------------------------

@pytest.mark.tools
@pytest.mark.skipif(LSPCI is None, reason="needs lspci (pciutils)")
@pytest.mark.parametrize("dump", DUMPS, ids=lambda p: p.name)
def test_lspci_reads_our_export_like_the_original(dump, tmp_path):
    fab = parse_dump(dump.read_text(), str(dump))
    exported = tmp_path / "exported.txt"
    exported.write_text(export_dump(fab))
    orig, ours = _blocks(_lspci(dump, "-vvv")), _blocks(_lspci(exported, "-vvv"))
    assert set(orig) == set(ours) and orig
    for bdf in orig:
        assert _facts(ours[bdf]) == _facts(orig[bdf]), bdf
    assert _lspci(exported, "-tv") == _lspci(dump, "-tv")


@pytest.mark.parametrize("dump", DUMPS, ids=lambda p: p.name)
def test_every_real_dump_imports_with_bridges_as_parents(dump):
    fab = load_fabric(dump)
    for fn in fab.functions(include_virtfns=False):
        cur = fab.current_bdf(fn)
        assert cur is not None, fn.uid
        if fn.upstream is not None:
            assert fn.upstream.secondary == cur[1]


def test_asus_tree_matches_the_worked_example():
    fab = load_fabric(next(p for p in DUMPS if p.name == "tree-asus-p6t6"))
    rp = fab.by_uid("0000:00:03.0")
    assert rp.bus_numbers() == (0, 2, 5) and rp.bus_master
    assert rp.acs_cap == 0x001F and rp.acs_ctrl == 0
    assert rp.ari_forwarding_supported and not rp.ari_forwarding
    hba = fab.by_uid("0000:04:00.0")
    assert [f.uid for f in _path(hba)] == ["0000:03:00.0", "0000:02:00.0", "0000:00:03.0"]
    assert fab.by_uid("0000:00:00.0").pcie_type == "root_port"
    assert not fab.by_uid("0000:00:00.0").is_bridge       # header type decides, not port type


def _path(fn):
    out = []
    while fn.upstream is not None:
        fn = fn.upstream
        out.append(fn)
    return out


def test_sriov_dumps_generate_their_vfs():
    f2 = load_fabric(next(p for p in DUMPS if p.name == "cap-pcie-2"))
    vfs = f2.by_uid("0000:01:00.0").virtfns
    assert [v.uid for v in vfs] == ["0000:02:10.0"]       # RID 0x0100 + 384 → next bus
    assert f2.current_bdf(vfs[0]) == (0, 2, 0x80)
    f1 = load_fabric(next(p for p in DUMPS if p.name == "cap-ea-1"))
    vfs = f1.by_uid("0002:01:00.0").virtfns
    assert len(vfs) == 128 and vfs[0].uid == "0002:01:00.1" and vfs[-1].uid == "0002:01:10.0"
    assert export_dump(f1).count("\n00: ") == 1           # VFs are not in a dump of the host


def test_primary_bus_hard_wired_to_zero_is_accepted():
    fab = load_fabric(next(p for p in DUMPS if p.name == "tree-fsl-p2020"))
    child = fab.by_uid("0000:05:00.0")
    assert child.upstream.uid == "0000:04:00.0" and child.upstream.primary == 0


# -- sysfs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("tarball", TARBALLS, ids=lambda p: p.name)
def test_sysfs_snapshots_import_with_a_notice_about_missing_capabilities(tarball, tmp_path):
    with tarfile.open(tarball) as tf:
        tf.extractall(tmp_path, filter="data")
    fab = load_fabric(tmp_path)
    assert len(fab) > 0
    assert any("64 bytes" in d.message for d in fab.diagnostics)
    for fn in fab.functions():
        assert fn.pcie_type is None and fn.cfg.size == 64
        real = next(tmp_path.glob(f"*/sys/bus/pci/devices/{fn.uid}")).resolve()
        parent = real.parent.name
        assert (fn.upstream.uid if fn.upstream else None) == \
            (parent if re.match(r"^[0-9a-f]+:[0-9a-f]{2}:", parent) else None), fn.uid
    assert load_fabric(tarball).to_bytes() == fab.to_bytes() or \
        [f.uid for f in load_fabric(tarball).functions()] == [f.uid for f in fab.functions()]


def test_vmd_domain_from_sysfs():
    tarball = next((p for p in TARBALLS if "domain" in p.name), None)
    if tarball is None:
        pytest.skip("hwloc snapshot not available")
    fab = load_fabric(tarball)
    assert {r.domain for r in fab.roots} == {0, 0x10000}
    assert "10000:00:04.0" in export_dump(fab)


# -- YAML -------------------------------------------------------------------------------------

def _topology(fab):
    return [(f.uid, fab.current_bdf(f), f.upstream.uid if f.upstream else None, f.is_virtfn,
             f.cfg.to_bytes()) for f in fab.functions()]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_yaml_fixture_round_trips_through_a_dump(path):
    fab = load_fabric(path)
    assert not fab.diagnostics
    again = parse_dump(export_dump(fab), "exported")
    ours = [(u, b, p, v) for u, b, p, v, _ in _topology(fab)]
    assert [(u, b, p, v) for u, b, p, v, _ in _topology(again)] == ours
    assert _topology(load_yaml_text(dump_yaml(fab), "dumped.yaml")) == _topology(fab)


@pytest.mark.parametrize("dump", DUMPS, ids=lambda p: p.name)
def test_dump_to_yaml_to_fabric_is_byte_exact(dump):
    fab = load_fabric(dump)
    assert _topology(load_yaml_text(dump_yaml(fab), "x.yaml")) == _topology(fab)


def test_emr_fixture_has_8_dsa_and_an_nvme_behind_a_root_port():
    fab = load_fabric(REPO / "fixtures/fabrics/emr-dsa-nvme.yaml")
    dsa = [f for f in fab.functions() if (f.vendor, f.device) == (0x8086, 0x0B25)]
    assert len(dsa) == 8 and all(f.bus_master for f in dsa)
    nvme = next(f for f in fab.functions() if f.class_code == 0x010802)
    assert nvme.upstream.pcie_type == "root_port"


def test_firmware_numbering_is_depth_first_in_device_order():
    text = """
pcilu_fabric: 1
nodes:
  "0000:00:01.0": {parent: null, kind: root_port, vendor: 0x8086, device: 1}
  "0000:00:02.0": {parent: null, kind: root_port, vendor: 0x8086, device: 1}
  "0000:01:00.0": {parent: "0000:00:01.0", kind: upstream, vendor: 0x10b5, device: 2}
  "0000:02:00.0": {parent: "0000:01:00.0", kind: downstream, vendor: 0x10b5, device: 2}
  "0000:02:01.0": {parent: "0000:01:00.0", kind: downstream, vendor: 0x10b5, device: 2}
  "0000:03:00.0": {parent: "0000:02:00.0", kind: endpoint, vendor: 0x144d, device: 3}
  "0000:05:00.0": {parent: "0000:00:02.0", kind: endpoint, vendor: 0x144d, device: 3}
"""
    fab = load_yaml_text(text, "t.yaml")
    got = {f.uid: f.bus_numbers() for f in fab.functions() if f.is_bridge}
    assert got == {"0000:00:01.0": (0, 1, 4), "0000:01:00.0": (1, 2, 4),
                   "0000:02:00.0": (2, 3, 3), "0000:02:01.0": (2, 4, 4),
                   "0000:00:02.0": (0, 5, 5)}


# -- bad input --------------------------------------------------------------------------------

GOOD = (SHARED / "data/lspci/cap-pcie-1") if (SHARED / "data/lspci").is_dir() \
    else REPO / "fixtures/lspci/cap-pcie-1"


def _bad_dump(mutate):
    lines = GOOD.read_text().splitlines()
    return "\n".join(mutate(lines)) + "\n"


def _line_of(lines, prefix):
    return next(i for i, l in enumerate(lines) if l.startswith(prefix))


@pytest.mark.parametrize("mutate, line_prefix, words", [
    (lambda ls: [l if not l.startswith("20: ") else l[:-3] for l in ls], "20: ", "short"),
    (lambda ls: [l if not l.startswith("30: ") else l.replace("30: ", "30: zz ", 1)[:-3]
                 for l in ls], "30: ", "non-hex"),
    (lambda ls: [l if not l.startswith("00:01.0 ") else l.replace("00:01.0", "00:01.9")
                 for l in ls], "00:01.0 ", "function"),
])
def test_bad_dump_lines_are_named_by_line(mutate, line_prefix, words):
    lines = GOOD.read_text().splitlines()
    with pytest.raises(BadInput) as e:
        parse_dump(_bad_dump(mutate), "bad.txt")
    assert e.value.line == _line_of(lines, line_prefix) + 1
    assert words in e.value.message and "bad.txt" in e.value.message


def test_duplicate_bdf_in_a_dump():
    text = GOOD.read_text()
    with pytest.raises(BadInput, match="duplicate") as e:
        parse_dump(text + "\n" + text, "dup.txt")
    assert e.value.line == len(text.splitlines()) + 2


def test_overlapping_bridges_in_a_dump():
    fab = load_fabric(REPO / "fixtures/fabrics/switch.yaml")
    dsp = fab.by_uid("0000:02:01.0")
    dsp.set_bus_numbers(2, 3, 3)                          # same secondary as 02:00.0
    with pytest.raises(BadInput, match="overlaps"):
        parse_dump(export_dump(fab, include_unreachable=True), "overlap.txt")


YAML_OK = """pcilu_fabric: 1
nodes:
  "0000:00:01.0":
    parent: null
    kind: root_port
    vendor: 0x8086
    device: 0x1234
  "0000:01:00.0":
    parent: "0000:00:01.0"
    kind: endpoint
    vendor: 0x1af4
    device: 0x1041
"""


@pytest.mark.parametrize("old, new, line, words", [
    ("    device: 0x1041", "    devcie: 0x1041", 12, "did you mean 'device'"),
    ("kind: endpoint", "kind: endpiont", 10, "did you mean 'endpoint'"),
    ('parent: "0000:00:01.0"', 'parent: "0000:00:02.0"', 9, "not a node"),
    ("vendor: 0x1af4", "vendor: 0x1af4x", 11, "integer"),
    ("    kind: root_port\n", "    kind: root_port\n    bus: {primary: 0, secondary: 1, "
     "subordinate: 0}\n", 6, "secondary"),
])
def test_yaml_errors_name_file_line_and_field(old, new, line, words):
    with pytest.raises(BadInput) as e:
        load_yaml_text(YAML_OK.replace(old, new, 1), "fab.yaml")
    assert words in e.value.message and e.value.line == line
    assert e.value.message.startswith(f"fab.yaml:{line}")


def test_vf_declared_without_its_pf_is_rejected():
    text = YAML_OK + '  "0000:01:00.1":\n    virtfn_of: "0000:01:00.0"\n'
    with pytest.raises(BadInput, match="not generated by PF") as e:
        load_yaml_text(text, "vf.yaml")
    assert e.value.line == 14


def test_yaml_sibling_ranges_that_overlap_are_rejected():
    text = """pcilu_fabric: 1
nodes:
  "0000:00:01.0": {parent: null, kind: root_port, vendor: 1, device: 1, bus: {primary: 0, secondary: 1, subordinate: 3}}
  "0000:00:02.0": {parent: null, kind: root_port, vendor: 1, device: 1, bus: {primary: 0, secondary: 3, subordinate: 4}}
"""
    with pytest.raises(BadInput, match="overlaps") as e:
        load_yaml_text(text, "o.yaml")
    assert e.value.line == 4


@pytest.mark.parametrize("name", ["sriov", "multi-domain", "switch-pcie"])
def test_any_value_of_a_fixture_replaced_by_a_wrong_kind_is_refused_or_read(name):
    """A fabric file from another machine with any one value null, a string, a list, a
    mapping or a boolean where something else was: read (null is the field's default) or
    refused as bad input naming its file — never a crash in the layers beneath (a
    ``vf_device: &x10ca`` anchor with no value once reached the config-space builder as
    None; ``kind: []`` a dict lookup; ``domains: 5`` a loop)."""
    import yaml

    from tests.hostile_files import leaves, replaced
    doc = yaml.safe_load((REPO / "fixtures/fabrics" / f"{name}.yaml").read_text())
    for path in leaves(doc):
        for value in (None, "x", [], {}, True):
            try:
                load_yaml_text(yaml.safe_dump(replaced(doc, path, value)), f"{name}.yaml")
            except BadInput as e:
                assert e.file == f"{name}.yaml", (path, value, e.message)


def test_a_null_sriov_field_is_its_default():
    base = YAML_OK.replace("    device: 0x1041\n", "    device: 0x1041\n    sriov: {total_vfs: 4, "
                           "num_vfs: 2, vf_enable: true%s}\n", 1)
    plain = load_yaml_text(base % "", "a.yaml")
    nulls = load_yaml_text(base % ", vf_device: null, first_vf_offset: null, vf_stride: null",
                           "a.yaml")
    assert nulls.to_bytes() == plain.to_bytes()
