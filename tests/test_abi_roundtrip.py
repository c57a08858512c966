# SPDX-License-Identifier: GPL-2.0-only
"""Property tests for every hand-over layout: what pcilu builds, it parses back to the same
value and rebuilds to the same bytes; what it is given at random, it decodes or refuses with
BadInput, never anything else.

* Construct layouts (pcilu_cli.abi.{luo,kho_block,kho,pci}): build → parse → build identity,
  interpreted and compiled backends agreeing (the round-trip helper of construct's own tests).
* struct pci_ser in every profile: encode → decode → encode byte identity with random entries
  (domains up to 2**32-1, refcounts up to 65535, holes), page padding included; the bulk decoder
  agrees with the Construct entry layout on arbitrary bytes.
"""
from __future__ import annotations

import importlib
import struct

import construct
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcilu_cli.abi import pci
from pcilu_cli.abi.profiles import BLOCK, FLEX, PADDING, PROFILES, VERSION
from pcilu_cli.errors import BadInput

LAYOUT_MODULES = ["pcilu_cli.abi.pci", "pcilu_cli.abi.luo", "pcilu_cli.abi.kho_block",
                  "pcilu_cli.abi.kho"]


def all_layouts():
    out = []
    for modname in LAYOUT_MODULES:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError:
            continue
        # the declarations may live in a module imported on first use (mod._LAYOUTS)
        found = dict(vars(mod))
        if getattr(mod, "_LAYOUTS", None):
            found.update(vars(importlib.import_module(mod._LAYOUTS)))
        out += [(f"{modname.rsplit('.', 1)[1]}.{k}", v) for k, v in sorted(found.items())
                if isinstance(v, construct.Struct) and not k.startswith("_")]
    assert out, "no Construct layouts found: LAYOUT_MODULES is stale"
    return out


LAYOUTS = all_layouts()


# ---- a Hypothesis strategy for any value of a Construct layout -------------------------------

def values_for(sc: construct.Construct):
    """The values a C struct member could hold, by Construct class; anything unknown fails so a
    new kind of field is noticed here rather than silently untested."""
    if isinstance(sc, construct.Renamed):
        return values_for(sc.subcon)
    if isinstance(sc, construct.Struct):
        return st.fixed_dictionaries({s.name: values_for(s) for s in sc.subcons if s.name})
    if isinstance(sc, construct.FormatField):
        code = sc.fmtstr[-1]
        bits = 8 * sc.length
        if code.isupper():
            return st.integers(0, 2**bits - 1)
        return st.integers(-(2**(bits - 1)), 2**(bits - 1) - 1)
    if isinstance(sc, construct.Bytes):
        return st.binary(min_size=sc.length, max_size=sc.length)
    if isinstance(sc, construct.StringEncoded):
        # PaddedString: NUL-padded text, at most length-1 characters (room for the NUL the
        # kernel's strscpy leaves), no NUL inside (NullStripped would eat a trailing one).
        return st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                       max_size=sc.sizeof() - 1)
    if isinstance(sc, construct.Array):
        return st.lists(values_for(sc.subcon), min_size=sc.count, max_size=sc.count)
    raise AssertionError(f"no strategy for {type(sc).__name__} ({sc!r}): extend values_for()")


def plain(v):
    """Container/ListContainer → dict/list without Construct's private '_io' keys."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items() if not k.startswith("_")}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


_COMPILED: dict = {}


def compiled(name, layout):
    if name not in _COMPILED:
        _COMPILED[name] = layout.compile()
    return _COMPILED[name]


@pytest.mark.parametrize("name,layout", LAYOUTS, ids=[n for n, _ in LAYOUTS])
def test_layout_build_parse_build(name, layout):
    # Page-sized layouts (4096-byte arrays) are slow to generate and to build interpreted.
    n = 8 if layout.sizeof() > 512 else 40

    @settings(max_examples=n, deadline=None)
    @given(value=values_for(layout))
    def check(value):
        blob = layout.build(value)
        assert len(blob) == layout.sizeof()
        back = layout.parse(blob)
        assert plain(back) == value
        assert layout.build(back) == blob
        fast = compiled(name, layout)
        assert plain(fast.parse(blob)) == value
        assert fast.build(value) == blob

    check()


@pytest.mark.parametrize("name,layout", [(n, l) for n, l in LAYOUTS if l.sizeof() <= 512],
                         ids=[n for n, l in LAYOUTS if l.sizeof() <= 512])
def test_layout_rejects_truncation_with_a_construct_error(name, layout):
    """The interpreted backend (the one pcilu uses on untrusted bytes) reports truncation as a
    ConstructError that the single choke point can turn into BadInput."""
    with pytest.raises(construct.ConstructError):
        layout.parse(bytes(layout.sizeof() - 1))


# ---- struct pci_ser: every profile -----------------------------------------------------------

FLEX_PROFILES = sorted(n for n, p in PROFILES.items() if p.pci_layout == FLEX)
HEADER_PROFILES = sorted(n for n, p in PROFILES.items() if p.pci_layout in (BLOCK, VERSION))


@st.composite
def flex_case(draw):
    """(max_nr_devices, in-use entries in slot order) with holes anywhere."""
    max_nr = draw(st.integers(0, 64))
    slots = draw(st.lists(st.integers(0, max(max_nr - 1, 0)), unique=True, max_size=max_nr))
    entries = sorted(
        (s, draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 0xFFFF)),
         draw(st.integers(1, 0xFFFF)))
        for s in slots) if max_nr else []
    return max_nr, entries


@pytest.mark.parametrize("profile", FLEX_PROFILES)
@settings(max_examples=60, deadline=None)
@given(case=flex_case(), pad=st.sampled_from([None, 4096, 8192]))
def test_flex_encode_decode_encode(profile, case, pad):
    max_nr, entries = case
    size = pad if pad is not None and pad >= pci.flex_size(max_nr) else None
    blob = pci.encode_pci_ser(profile, entries, max_nr_devices=max_nr, size=size)
    assert len(blob) == (size or 8 + 8 * max_nr)
    ser = pci.decode_pci_ser(blob, profile)
    assert (ser.layout, ser.max_nr_devices, ser.nr_devices) == (FLEX, max_nr, len(entries))
    assert ser.entries == entries
    assert ser.size == pci.flex_size(max_nr) and ser.file_size == len(blob)
    again = pci.encode_pci_ser(profile, ser.entries, max_nr_devices=ser.max_nr_devices,
                               nr_devices=ser.nr_devices, size=size)
    assert again == blob
    # Construct's own entry layout reads the same slots as the bulk codec.
    entry = pci.entry_layout(profile)
    last = "padding" if PROFILES[profile].refcount == PADDING else "refcount"
    via_construct = []
    for slot in range(max_nr):
        e = entry.parse(blob[8 + 8 * slot:16 + 8 * slot])
        if e[last]:
            via_construct.append((slot, e.domain, e.bdf, e[last]))
    assert via_construct == entries


@pytest.mark.parametrize("profile", FLEX_PROFILES)
@settings(max_examples=30, deadline=None)
@given(case=flex_case(), nr=st.integers(0, 2**32 - 1))
def test_flex_nr_devices_survives_even_when_wrong(profile, case, nr):
    """The kernel never checks nr_devices; pcilu keeps the value and only reports it."""
    max_nr, entries = case
    blob = pci.encode_pci_ser(profile, entries, max_nr_devices=max_nr, nr_devices=nr)
    ser = pci.decode_pci_ser(blob, profile)
    assert ser.nr_devices == nr and ser.entries == entries
    if PROFILES[profile].refcount != PADDING:
        assert (nr != len(entries)) == any(d.field == "nr_devices" for d in ser.diagnostics)
    assert pci.encode_pci_ser(profile, ser.entries, max_nr_devices=max_nr,
                              nr_devices=ser.nr_devices) == blob


@pytest.mark.parametrize("profile", HEADER_PROFILES)
@settings(max_examples=60, deadline=None)
@given(nr=st.integers(0, 2**32 - 1), pa=st.integers(0, 2**64 - 1))
def test_header_encode_decode_encode(profile, nr, pa):
    p = PROFILES[profile]
    blob = pci.encode_pci_ser(profile, [], nr_devices=nr, devices_pa=pa)
    assert len(blob) == pci.header_layout(p).sizeof()
    ser = pci.decode_pci_ser(blob, profile)
    assert (ser.layout, ser.nr_devices, ser.devices_pa) == (p.pci_layout, nr, pa)
    assert ser.version == p.pci_version
    assert pci.encode_pci_ser(profile, [], nr_devices=ser.nr_devices,
                              devices_pa=ser.devices_pa, version=ser.version) == blob
    # and the Construct header layout agrees with the bytes
    hdr = pci.header_layout(p).parse(blob)
    assert (hdr.nr_devices, hdr.devices) == (nr, pa)


@pytest.mark.parametrize("profile", sorted(n for n in HEADER_PROFILES
                                           if PROFILES[n].pci_layout == VERSION))
@settings(max_examples=30, deadline=None)
@given(version=st.integers(0, 2**32 - 1))
def test_version_mismatch_is_bad_input(profile, version):
    p = PROFILES[profile]
    blob = struct.pack("<IIQ", version, 1, 0x1000)
    if version == p.pci_version:
        assert pci.decode_pci_ser(blob, profile).version == version
    else:
        with pytest.raises(BadInput) as e:
            pci.decode_pci_ser(blob, profile, file="x.bin")
        assert e.value.field == "version"


@pytest.mark.parametrize("profile", sorted(PROFILES))
@settings(max_examples=80, deadline=None)
@given(data=st.binary(max_size=300))
def test_decode_random_bytes_is_bad_input_or_a_result(profile, data):
    try:
        ser = pci.decode_pci_ser(data, profile, file="random.bin")
    except BadInput as e:
        assert e.file == "random.bin"
        return
    assert all(isinstance(e, tuple) and len(e) == 4 and e[3] for e in ser.entries)
    # whatever decoded, re-encodes to the same header and entries
    again = pci.decode_pci_ser(
        pci.encode_pci_ser(profile, ser.entries, max_nr_devices=ser.max_nr_devices,
                           nr_devices=ser.nr_devices, devices_pa=ser.devices_pa or 0,
                           version=ser.version), profile)
    assert (again.entries, again.nr_devices, again.max_nr_devices, again.devices_pa) == \
        (ser.entries, ser.nr_devices, ser.max_nr_devices, ser.devices_pa)


@st.composite
def flex_header_and_body(draw):
    """Random bytes whose header is at least plausible, so the entry decoder really runs."""
    max_nr = draw(st.integers(0, 30))
    body = draw(st.binary(min_size=8 * max_nr, max_size=8 * max_nr + 24))
    return struct.pack("<II", max_nr, draw(st.integers(0, 2**32 - 1))) + body


@pytest.mark.parametrize("profile", FLEX_PROFILES)
@settings(max_examples=60, deadline=None)
@given(blob=flex_header_and_body())
def test_flex_decoder_agrees_with_construct_on_random_entries(profile, blob):
    max_nr = struct.unpack_from("<I", blob)[0]
    ser = pci.decode_pci_ser(blob, profile)   # never raises: the blob is long enough
    entry = pci.entry_layout(profile)
    want = []
    for slot in range(max_nr):
        e = entry.parse(blob[8 + 8 * slot:])
        ref = e[entry.subcons[-1].name]
        if ref:
            want.append((slot, e.domain, e.bdf, ref))
    assert ser.entries == want
    tail_dirty = any(blob[8 + 8 * max_nr:])
    assert tail_dirty == any(d.field == "tail" for d in ser.diagnostics)


def test_truncated_flex_blob_names_the_field():
    blob = pci.encode_pci_ser("v6", [(0, 0, 0x100, 1)], max_nr_devices=4)
    with pytest.raises(BadInput) as e:
        pci.decode_pci_ser(blob[:-1], "v6", file="cut.bin")
    assert (e.value.file, e.value.field) == ("cut.bin", "max_nr_devices")
    with pytest.raises(BadInput) as e:
        pci.decode_pci_ser(blob[:7], "v6", file="cut.bin")
    assert e.value.offset == 7
