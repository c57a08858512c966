# SPDX-License-Identifier: GPL-2.0-only
"""The ABI contract between pcilu's Construct layouts and a C transcription compiled by gcc.

gcc, not pcilu, decides every size and offset here (abi/include/pcilu_abi/*.h,
abi/abi_check.c). The golden blobs in fixtures/golden/pci were written by the C program with
the C structs, and their manifest.json was written by the C program too, so every expectation
below comes from outside the Python code under test:

* each Construct layout agrees field by field with sizeof/offsetof;
* C-built blobs decode (library and ``pcilu inspect --json``) to what the C manifest says;
* Python-built blobs (library and ``pcilu encode``) are byte-identical to the C-built ones and
  read back by the C program (``abi_check read``);
* the committed goldens are exactly what the C program produces today.
"""
from __future__ import annotations

import importlib
import json
import os
import random
import shutil
import struct
import subprocess
from pathlib import Path

import construct
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcilu_cli.abi import pci
from pcilu_cli.abi.profiles import PROFILES
from pcilu_cli.errors import BadInput
from tests.pcilu_run import run

ROOT = Path(__file__).resolve().parents[1]
ABI = ROOT / "abi"
GOLDEN = ROOT / "fixtures" / "golden" / "pci"

pytestmark = pytest.mark.tools

# pci-liveupdate-v6.md §1.6, transcribed from the spec's byte table (a third, independent
# witness next to the C struct and the Python encoder).
SPEC_WORKED_EXAMPLE = bytes.fromhex(
    "06000000" "02000000"
    "00000000" "0001" "0100"
    "00000000" "1000" "0100") + bytes(32)


# ---- the C program ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def abi_check(tmp_path_factory) -> Path:
    """abi/abi_check.c built with the same flags as abi/Makefile, into a temporary directory
    (so a fresh clone with only gcc works and nothing is left in the tree)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("gcc is not installed: CI must check the C side of the ABI contract "
                        "(`make setup` installs gcc)")
        pytest.skip("gcc is not installed (CI installs it; `make tools` does too)")
    out = tmp_path_factory.mktemp("abi") / "abi_check"
    cmd = [gcc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{ABI / 'include'}",
           "-o", str(out), str(ABI / "abi_check.c")]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, f"gcc failed:\n{res.stderr}"
    return out


def c_run(exe: Path, *args, check=True) -> subprocess.CompletedProcess:
    res = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True)
    if check:
        assert res.returncode == 0, res.stderr
    return res


@pytest.fixture(scope="session")
def c_layout(abi_check) -> dict:
    """{struct: {"size": n, "fields": {path: (offset, size)}}} from `abi_check layout`."""
    structs: dict = {}
    for line in c_run(abi_check, "layout").stdout.splitlines():
        parts = line.split()
        if parts[0] == "struct":
            assert parts[2] == "size"
            structs[parts[1]] = {"size": int(parts[3]), "fields": {}}
        else:
            assert parts[0] == "field" and parts[2] == "offset" and parts[4] == "size", line
            sname, path = parts[1].split(".", 1)
            assert sname in structs, f"abi_check printed a field of an undeclared struct: {line}"
            structs[sname]["fields"][path] = (int(parts[3]), int(parts[5]))
    return structs


def c_struct(c_layout: dict, name: str) -> dict:
    """The C side of one struct; a struct the C program does not print is a broken contract
    (a failure, never a skip)."""
    if name not in c_layout:
        pytest.fail(f"struct {name} is missing from `abi_check layout` (add it to "
                    f"abi/abi_check.c); the C program printed: {sorted(c_layout)}")
    return c_layout[name]


@pytest.fixture(scope="session")
def manifest() -> dict:
    return json.loads((GOLDEN / "manifest.json").read_text())


def blobs_of(manifest, **match):
    return [b for b in manifest["blobs"] if all(b.get(k) == v for k, v in match.items())]


# ---- 1. layouts: Construct vs sizeof/offsetof ------------------------------------------------

# Python layout -> C struct. The kernel has one struct pci_ser per era; the C transcription
# suffixes them so every era compiles side by side.
PY_TO_C = {
    ("pcilu_cli.abi.pci", "pci_dev_ser"): "pci_dev_ser",
    ("pcilu_cli.abi.pci", "pci_dev_ser_v1"): "pci_dev_ser_v1",
    ("pcilu_cli.abi.pci", "pci_ser_flex_header"): "pci_ser_flex",
    ("pcilu_cli.abi.pci", "pci_ser_block"): "pci_ser_v7",
    ("pcilu_cli.abi.pci", "pci_ser_version"): "pci_ser_version",
    ("pcilu_cli.abi.pci", "pci_dev_ser_reserved"): "pci_dev_ser_v3",     # pre-v4 posting
    ("pcilu_cli.abi.pci", "pci_ser_u64_header"): "pci_ser_u64",          # pre-v4 posting
    ("pcilu_cli.abi.kho_block", "kho_block_header_ser"): "kho_block_header_ser",
    ("pcilu_cli.abi.luo", "luo_flb_header_ser"): "luo_flb_header_ser",
    ("pcilu_cli.abi.luo", "luo_flb_ser"): "luo_flb_ser",
    ("pcilu_cli.abi.luo", "luo_flb_ser_raw"): "luo_flb_ser",
    ("pcilu_cli.abi.luo", "luo_ser"): "luo_ser",
    ("pcilu_cli.abi.luo", "luo_session_ser"): "luo_session_ser",
    ("pcilu_cli.abi.luo", "luo_file_ser"): "luo_file_ser",
    ("pcilu_cli.abi.luo", "luo_session_header_ser"): "luo_session_header_ser",
    ("pcilu_cli.abi.kho", "kho_kexec_metadata"): "kho_kexec_metadata",
    ("pcilu_cli.abi.kho", "khoser_mem_chunk_hdr"): "khoser_mem_chunk_hdr",
    ("pcilu_cli.abi.kho", "khoser_mem_bitmap_ptr"): "khoser_mem_bitmap_ptr",
    ("pcilu_cli.abi.kho", "khoser_mem_chunk"): "khoser_mem_chunk",
    ("pcilu_cli.abi.kho", "kho_vmalloc_hdr"): "kho_vmalloc_hdr",
    ("pcilu_cli.abi.kho", "kho_vmalloc_chunk"): "kho_vmalloc_chunk",
    ("pcilu_cli.abi.kho", "kho_vmalloc"): "kho_vmalloc",
    ("pcilu_cli.abi.kho", "kho_scratch"): "kho_scratch",
    ("pcilu_cli.abi.kho", "kho_data"): "kho_data",
    ("pcilu_cli.abi.kho", "kho_radix_node"): "kho_radix_node",
    ("pcilu_cli.abi.fdt", "fdt_header"): "fdt_header",
    ("pcilu_cli.abi.fdt", "fdt_property"): "fdt_property",
    ("pcilu_cli.abi.fdt", "fdt_reserve_entry"): "fdt_reserve_entry",
    ("pcilu_cli.abi.elf", "Elf64_Ehdr"): "Elf64_Ehdr",       # the system's <elf.h>
    ("pcilu_cli.abi.elf", "Elf64_Phdr"): "Elf64_Phdr",
    ("pcilu_cli.abi.elf", "Elf64_Shdr"): "Elf64_Shdr",
    ("pcilu_cli.abi.elf", "Elf64_Nhdr"): "Elf64_Nhdr",
}
# C structs the Python side deliberately has no separate layout for.
C_ONLY = {
    "pci_ser_flex_v1": "same header as pci_ser_flex; Python pairs it with pci_dev_ser_v1",
    "luo_file_set_ser": "pcilu_cli.abi.luo flattens it into luo_session_ser (files, count)",
}
LAYOUT_MODULES = ["pcilu_cli.abi.pci", "pcilu_cli.abi.luo", "pcilu_cli.abi.kho_block",
                  "pcilu_cli.abi.kho", "pcilu_cli.abi.fdt", "pcilu_cli.abi.elf"]


def module_structs(modname):
    """The Construct layouts a module offers, also those it declares in its ``*_layouts``
    module and re-exports on first use."""
    mod = importlib.import_module(modname)
    found = dict(vars(mod))
    lazy = getattr(mod, "_LAYOUTS", None)
    if isinstance(lazy, str):
        found.update(vars(importlib.import_module(lazy)))
    return {k: v for k, v in found.items()
            if isinstance(v, construct.Struct) and not k.startswith("_")}


def walk_struct(layout: construct.Struct, base=0, prefix=""):
    """Yield (path, offset, size) for every field, recursing into nested Structs. Construct
    never pads, so offsets are the running sum of sizeof(): right for __packed C structs, and
    for naturally aligned ones (kho.h) any padding gcc inserts shows up as a mismatch."""
    off = base
    for sc in layout.subcons:
        size = sc.sizeof()
        path = prefix + (sc.name if sc.name else f"<unnamed@{off}>")
        yield path, off, size
        inner = sc.subcon if isinstance(sc, construct.Renamed) else sc
        if isinstance(inner, construct.Struct):
            yield from walk_struct(inner, off, path + ".")
        off += size


def compare_layout(py: construct.Struct, c: dict, what: str):
    assert py.sizeof() == c["size"], f"{what}: sizeof {py.sizeof()} (Construct) != {c['size']} (C)"
    py_fields = list(walk_struct(py))
    py_leaves_extra: set = set()
    for path, off, size in py_fields:
        if path in c["fields"]:
            cpath = path
        elif "<unnamed@" in path:  # e.g. Padding(): must sit exactly on a C member
            same = [p for p, v in c["fields"].items() if v == (off, size)]
            assert same, f"{what}: unnamed {size}-byte member at {off} matches no C field"
            py_leaves_extra.add(same[0])
            continue
        else:  # a nested C member the Python side flattened: match the unique leaf name
            leaf = [p for p in c["fields"] if p.rsplit(".", 1)[-1] == path]
            assert len(leaf) == 1, f"{what}: field {path!r} has no C counterpart " \
                                   f"(C fields: {sorted(c['fields'])})"
            cpath = leaf[0]
        assert c["fields"][cpath] == (off, size), \
            f"{what}.{path}: Construct offset {off} size {size}, C {c['fields'][cpath]}"
    # Every C byte must be covered by Python: the only C members Python may leave out are
    # flexible arrays (size 0) and the container of members it flattened.
    py_paths = {p for p, _, _ in py_fields}
    py_leaves = {p.rsplit(".", 1)[-1] for p in py_paths}
    for cpath, (off, size) in c["fields"].items():
        if cpath in py_paths or cpath in py_leaves_extra or size == 0:
            continue
        nested_children = [p for p in c["fields"] if p.startswith(cpath + ".")]
        if nested_children and all(p.rsplit(".", 1)[-1] in py_leaves for p in nested_children):
            continue
        if cpath.rsplit(".", 1)[-1] in py_leaves and "." in cpath:
            continue
        pytest.fail(f"{what}: C field {cpath} (offset {off}, size {size}) is missing in Python")


@pytest.mark.parametrize("modname,attr", sorted(PY_TO_C), ids=lambda x: str(x))
def test_construct_layout_matches_c(modname, attr, c_layout):
    py = getattr(importlib.import_module(modname), attr, None)
    assert py is not None, f"{modname} lost {attr} (C side: struct {PY_TO_C[(modname, attr)]})"
    compare_layout(py, c_struct(c_layout, PY_TO_C[(modname, attr)]), f"{modname}.{attr}")


def test_every_layout_has_a_twin(c_layout):
    """A new Construct layout without a C transcription (or the reverse) breaks the contract:
    add it to abi/include/pcilu_abi/ and abi/abi_check.c, and to PY_TO_C."""
    missing = [f"{m}.{k}" for m in LAYOUT_MODULES for k in module_structs(m)
               if (m, k) not in PY_TO_C]
    mapped_c = set(PY_TO_C.values())
    assert mapped_c <= set(c_layout), f"unknown C structs in PY_TO_C: {mapped_c - set(c_layout)}"
    unmapped_c = set(c_layout) - mapped_c - set(C_ONLY)
    assert not unmapped_c, f"C structs with no Python twin in PY_TO_C: {sorted(unmapped_c)}"
    assert not missing, f"Construct layouts with no C counterpart: {missing}"


def _c_leaves(c: dict) -> list:
    """(offset, size) of the C struct's leaf members in declaration order (no containers of
    nested members, no flexible arrays)."""
    names = list(c["fields"])
    return [c["fields"][n] for n in names
            if c["fields"][n][1] and not any(m.startswith(n + ".") for m in names)]


def _codec_slots(codec: struct.Struct) -> list:
    """(offset, size) of each member of a struct format ("48s", "Q", "512Q" = one member)."""
    import re
    order, body = codec.format[0], codec.format[1:]
    out, off = [], 0
    for count, code in re.findall(r"(\d*)([a-zA-Z?])", body):
        size = struct.calcsize(order + (count or "") + code)
        if code != "x":
            out.append((off, size))
        off += size
    return out


@pytest.mark.parametrize("modname,attr", sorted(PY_TO_C), ids=lambda x: str(x))
def test_fast_codec_matches_c_and_construct(modname, attr, c_layout):
    """The struct codec the hot paths use, derived from the declaration, puts every member
    where gcc puts it, and reads the same values Construct reads from the same bytes."""
    from pcilu_cli.abi.codec import fast
    layout = getattr(importlib.import_module(modname), attr)
    c = c_struct(c_layout, PY_TO_C[(modname, attr)])
    codec = fast(layout)
    assert codec.size == c["size"]
    assert _codec_slots(codec) == _c_leaves(c), f"{attr}: codec {codec.format!r} vs C members"
    rnd = random.Random(attr)
    data = bytearray(rnd.randbytes(codec.size))
    for sc in layout.subcons:                # printable bytes where Construct wants ASCII
        if isinstance(sc.subcon, construct.StringEncoded):
            off = next(o for p, o, _ in walk_struct(layout) if p == sc.name)
            data[off:off + sc.sizeof()] = b"a" * sc.sizeof()
    values = codec.unpack(bytes(data))
    parsed = layout.parse(bytes(data))

    def leaves(container, lay):
        for sc in lay.subcons:
            v = container[sc.name]
            inner = sc.subcon
            if isinstance(inner, construct.Struct):
                yield from leaves(v, inner)
            elif isinstance(inner, construct.Array) and isinstance(inner.subcon,
                                                                   construct.FormatField):
                yield from v
            elif isinstance(inner, construct.FormatField):
                yield v
            else:
                yield None                   # a byte string: compared by position above
    got = [v for v in values]
    want = list(leaves(parsed, layout))
    assert len(got) == len(want)
    assert all(w is None or g == w for g, w in zip(got, want)), f"{attr}: values differ"


def test_static_asserts_hold_in_both(c_layout):
    """The kernel's two static_asserts (natural alignment on 64-bit) and struct_size()."""
    flex = c_struct(c_layout, "pci_ser_flex")
    assert flex["fields"]["devices"][0] % 8 == 0
    assert c_struct(c_layout, "pci_dev_ser")["size"] % 8 == 0
    assert pci.pci_ser_flex_header.sizeof() == flex["fields"]["devices"][0]
    for n in (0, 1, 6, 511, 512):
        assert pci.flex_size(n) == flex["fields"]["devices"][0] + n * c_struct(c_layout, "pci_dev_ser")["size"]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_profile_uses_the_c_struct_of_its_era(profile, c_layout):
    p = PROFILES[profile]
    c_header = {"flex": "pci_ser_flex", "block": "pci_ser_v7", "version": "pci_ser_version"}
    compare_layout(pci.header_layout(p), c_struct(c_layout, c_header[p.pci_layout]),
                   f"header[{profile}]")
    c_entry = "pci_dev_ser_v1" if p.refcount == "padding" else "pci_dev_ser"
    compare_layout(pci.entry_layout(p), c_struct(c_layout, c_entry), f"entry[{profile}]")


# ---- 2. C-built golden blobs, decoded by pcilu -----------------------------------------------

def manifest_entries(blob) -> list:
    return [(d["slot"], d["domain"], d["bdf"], d["refcount"]) for d in blob["devices"]]


def test_committed_goldens_are_what_c_produces(abi_check, tmp_path):
    out = tmp_path / "golden"
    c_run(abi_check, "golden", out)
    made = sorted(p.name for p in out.iterdir())
    committed = sorted(p.name for p in GOLDEN.iterdir())
    assert made == committed, "regenerate with `make -C abi golden` and commit the result"
    for name in made:
        assert (out / name).read_bytes() == (GOLDEN / name).read_bytes(), \
            f"{name} differs from what abi_check writes (run `make -C abi golden`)"


def test_worked_example_is_the_spec_bytes(manifest):
    assert (GOLDEN / "pci_ser_v6_example.bin").read_bytes() == SPEC_WORKED_EXAMPLE
    page = (GOLDEN / "pci_ser_v6_example_page.bin").read_bytes()
    assert len(page) == 4096 and page[:56] == SPEC_WORKED_EXAMPLE and not any(page[56:])


def test_manifest_covers_the_required_edges(manifest):
    """The rich blob really exercises what it claims (guards against a silently tamer C file)."""
    (rich,) = blobs_of(manifest, file="pci_ser_v6_rich.bin")
    devs = rich["devices"]
    assert {0x10000, 0xFFFFFFFF} <= {d["domain"] for d in devs}
    assert any(d["bus"] == 0xFE for d in devs) and any(d["function"] == 7 for d in devs)
    assert 65535 in {d["refcount"] for d in devs}
    used = [d["slot"] for d in devs]
    assert any(b - a > 1 for a, b in zip(used, used[1:])), "no free slot in the middle"
    assert rich["nr_devices"] == len(devs)
    # Two entries share a bdf in domains 0 and 0x10000: v5's 32-bit `domain << 16` key made
    # them collide, v6's widened key (spec §1.6: 0x1_0000_0100) keeps them apart.
    v5_keys = [((d["domain"] << 16) & 0xFFFFFFFF) | d["bdf"] for d in devs]
    assert len(set(v5_keys)) < len(devs)
    assert pci.xa_key(0x10000, 0x0100) == 0x1_0000_0100
    assert len({pci.xa_key(d["domain"], d["bdf"]) for d in devs}) == len(devs)
    assert blobs_of(manifest, layout="block") and blobs_of(manifest, layout="version")
    assert blobs_of(manifest, kind="luo_flb_page")
    assert any(b["size"] == 4096 for b in blobs_of(manifest, layout="flex"))


def flex_blobs():
    m = json.loads((GOLDEN / "manifest.json").read_text())
    return [b["file"] for b in blobs_of(m, kind="pci_ser", layout="flex")]


def header_blobs():
    m = json.loads((GOLDEN / "manifest.json").read_text())
    return [b["file"] for b in m["blobs"] if b["kind"] == "pci_ser" and b["layout"] != "flex"]


def blob(manifest, name):
    (b,) = blobs_of(manifest, file=name)
    return b


@pytest.mark.parametrize("name", flex_blobs())
def test_library_decodes_c_flex_blob(name, manifest):
    m = blob(manifest, name)
    ser = pci.decode_pci_ser((GOLDEN / name).read_bytes(), m["profile"], file=name)
    assert ser.compatible == m["compatible"]
    assert (ser.max_nr_devices, ser.nr_devices) == (m["max_nr_devices"], m["nr_devices"])
    assert ser.size == m["struct_size"] and ser.file_size == m["size"]
    assert ser.entries == manifest_entries(m)
    assert ser.diagnostics == []


@pytest.mark.parametrize("name", flex_blobs())
def test_inspect_json_matches_c_manifest(name, manifest):
    m = blob(manifest, name)
    doc = run(["inspect", GOLDEN / name, "--profile", "v6", "--json"]).json()
    assert doc["kind"] == "pci_ser" and doc["compatible"] == m["compatible"]
    assert (doc["max_nr_devices"], doc["nr_devices"]) == (m["max_nr_devices"], m["nr_devices"])
    assert doc["free_slots"] == m["max_nr_devices"] - len(m["devices"])
    assert doc["blob_size"] == m["size"] and doc["warnings"] == []
    got = [(d["slot"], d["domain"], d["bus"], d["device"], d["function"], d["bdf"],
            d["refcount"]) for d in doc["devices"]]
    want = [(d["slot"], d["domain"], d["bus"], d["device"], d["function"], d["name"],
             d["refcount"]) for d in m["devices"]]
    assert got == want


@pytest.mark.parametrize("name", header_blobs())
def test_library_and_inspect_decode_c_header_blobs(name, manifest):
    m = blob(manifest, name)
    data = (GOLDEN / name).read_bytes()
    ser = pci.decode_pci_ser(data, m["profile"], file=name)
    assert (ser.layout, ser.compatible) == (m["layout"], m["compatible"])
    assert (ser.nr_devices, ser.devices_pa, ser.version) == \
        (m["nr_devices"], m["devices_pa"], m.get("version"))
    doc = run(["inspect", GOLDEN / name, "--profile", m["profile"], "--json"]).json()
    assert (doc["nr_devices"], doc["devices_pa"], doc.get("version")) == \
        (m["nr_devices"], m["devices_pa"], m.get("version"))
    assert doc["compatible"] == m["compatible"]


def test_version_era_blob_under_the_other_version_is_refused(manifest):
    """v8 reads version 1 only; a v9 (version 2) blob is what the kernel panics on."""
    m = blob(manifest, "pci_ser_v9.bin")
    res = run(["inspect", GOLDEN / m["file"], "--profile", "v8", "--json"], exit_code=3)
    assert "version" in res.stderr


def test_inspect_decodes_c_flb_page(manifest):
    m = blob(manifest, "luo_flb_page_pci_v3.bin")
    doc = run(["inspect", GOLDEN / m["file"], "--json"]).json()
    assert doc["kind"] == "luo_flb_page"
    assert (doc["pgcnt"], doc["count"]) == (m["pgcnt"], m["count"])
    assert [(r["index"], r["name"], r["data"], r["count"]) for r in doc["flbs"]] == \
        [(r["index"], r["name"], r["data"], r["count"]) for r in m["flbs"]]


def test_luo_layouts_decode_c_flb_page(manifest):
    from pcilu_cli.abi.luo import luo_flb_header_ser, luo_flb_ser
    m = blob(manifest, "luo_flb_page_pci_v3.bin")
    data = (GOLDEN / m["file"]).read_bytes()
    hdr = luo_flb_header_ser.parse(data)
    assert (hdr.pgcnt, hdr.count) == (m["pgcnt"], m["count"])
    for r in m["flbs"]:
        rec = luo_flb_ser.parse(data[r["offset"]:])
        assert (rec.name, rec.data, rec.count) == (r["name"], r["data"], r["count"])


def test_kho_block_layout_decodes_c_pci_dev_block(manifest):
    from pcilu_cli.abi.kho_block import KHO_BLOCK_HEADER_SIZE, count_per_block, \
        kho_block_header_ser
    m = blob(manifest, "pci_dev_block.bin")
    data = (GOLDEN / m["file"]).read_bytes()
    hdr = kho_block_header_ser.parse(data)
    assert (hdr.next, hdr.count) == (m["next"], m["count"])
    assert count_per_block(pci.PCI_DEV_SER_SIZE) == m["count_per_block"]
    body = data[KHO_BLOCK_HEADER_SIZE:KHO_BLOCK_HEADER_SIZE + hdr.count * m["entry_size"]]
    assert pci.decode_entries(body) == manifest_entries(m)


# ---- 3. Python-built blobs, compared with C-built ones and read by C -------------------------

@pytest.mark.parametrize("name", flex_blobs())
def test_encoder_reproduces_c_flex_blob(name, manifest):
    m = blob(manifest, name)
    out = pci.encode_pci_ser(m["profile"], manifest_entries(m),
                             max_nr_devices=m["max_nr_devices"], size=m["size"])
    assert out == (GOLDEN / name).read_bytes()


@pytest.mark.parametrize("name", header_blobs())
def test_encoder_reproduces_c_header_blob(name, manifest):
    m = blob(manifest, name)
    out = pci.encode_pci_ser(m["profile"], [], nr_devices=m["nr_devices"],
                             devices_pa=m["devices_pa"], version=m.get("version"))
    assert out == (GOLDEN / name).read_bytes()


@pytest.mark.parametrize("name", flex_blobs())
def test_pcilu_encode_of_inspect_json_is_the_c_blob(name, manifest, tmp_path):
    """inspect → encode round trip through the CLI lands on the C program's bytes."""
    m = blob(manifest, name)
    spec = tmp_path / "spec.json"
    spec.write_text(run(["inspect", GOLDEN / name, "--profile", "v6", "--json"]).stdout)
    out = tmp_path / "out.bin"
    run(["encode", spec, "-o", out, "--size", m["size"]])
    assert out.read_bytes() == (GOLDEN / name).read_bytes()


def parse_c_read(stdout: str):
    lines = stdout.splitlines()
    head = dict(ln.split() for ln in lines[:2])
    entries = []
    for ln in lines[2:]:
        w = ln.split()
        assert w[0::2] == ["slot", "domain", "bdf", "refcount"], ln
        entries.append(tuple(int(x) for x in w[1::2]))
    return int(head["max_nr_devices"]), int(head["nr_devices"]), entries


@pytest.mark.parametrize("name", flex_blobs())
def test_c_reads_c_golden_as_manifest_says(name, manifest, abi_check):
    m = blob(manifest, name)
    assert parse_c_read(c_run(abi_check, "read", GOLDEN / name).stdout) == \
        (m["max_nr_devices"], m["nr_devices"], manifest_entries(m))


flex_entries = st.integers(0, 40).flatmap(lambda max_nr: st.tuples(
    st.just(max_nr),
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 0xFFFF),
                       st.integers(1, 0xFFFF)),
             max_size=max_nr),
    st.randoms(use_true_random=False)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=flex_entries)
def test_c_reads_python_built_blobs(case, abi_check, tmp_path):
    max_nr, devs, rnd = case
    slots = sorted(rnd.sample(range(max_nr), len(devs)))
    entries = [(s, d, b, r) for s, (d, b, r) in zip(slots, devs)]
    path = tmp_path / "py.bin"
    path.write_bytes(pci.encode_pci_ser("v6", entries, max_nr_devices=max_nr))
    assert parse_c_read(c_run(abi_check, "read", path).stdout) == (max_nr, len(entries), entries)


def test_c_reads_pcilu_encode_output(abi_check, tmp_path):
    rnd = random.Random(20260522)
    devices = []
    for slot in sorted(rnd.sample(range(64), 20)):
        bus, dev, fn = rnd.randrange(256), rnd.randrange(32), rnd.randrange(8)
        devices.append({"slot": slot, "domain": rnd.choice([0, 1, 0x10000, 2**32 - 1]),
                        "bus": bus, "device": dev, "function": fn,
                        "refcount": rnd.randint(1, 65535)})
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"profile": "v6", "max_nr_devices": 64, "devices": devices}))
    out = tmp_path / "blob.bin"
    run(["encode", spec, "-o", out, "--folio"])
    assert out.stat().st_size == 4096
    want = [(d["slot"], d["domain"], d["bus"] << 8 | d["device"] << 3 | d["function"],
             d["refcount"]) for d in devices]
    assert parse_c_read(c_run(abi_check, "read", out).stdout) == (64, 20, want)


def test_c_reader_refuses_a_truncated_blob(abi_check, tmp_path):
    """Both readers bound max_nr_devices by the blob length (the kernel would not)."""
    path = tmp_path / "short.bin"
    path.write_bytes((GOLDEN / "pci_ser_v6_example.bin").read_bytes()[:40])
    res = c_run(abi_check, "read", path, check=False)
    assert res.returncode == 1 and "max_nr_devices 6" in res.stderr
    with pytest.raises(BadInput):
        pci.decode_pci_ser(path.read_bytes(), "v6")
