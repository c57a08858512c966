# SPDX-License-Identifier: GPL-2.0-only
"""The kernel note of a state file (state/kernel_note.py): a command builds only the pci_devs
it touches, a save writes unchanged device chunks back as read, and the result is byte for
byte what a kernel built in one go saves."""
import pytest

from pcilu_cli.errors import BadInput
from pcilu_cli.fabric.synth import synth_fabric
from pcilu_cli.memory import elfcore
from pcilu_cli.state import Machine, kernel_note
from tests.hostile_files import _state_with_notes


@pytest.fixture(scope="module")
def gen0():
    # more devices than one chunk holds, so that a change touches one chunk of several
    fab = synth_fabric(3 * kernel_note.CHUNK_ROWS)
    return Machine.boot(fab).to_bytes()


def _endpoints(m, k=2):
    devs = [d for d in m.report()["devices"] if d["kind"] == "endpoint" and d["enumerated"]]
    return [devs[0]["bdf"], devs[-1]["bdf"]][:k]


def _kernel_sections(data: bytes) -> list:
    _mem, notes = elfcore.read_elf_core(data)
    note = bytes(elfcore.pcilu_notes(notes)[elfcore.NT_PCILU_KERNEL])
    return kernel_note.Kept(note, 1 << 30, "x").sections


def test_a_preserve_builds_only_the_devices_on_its_path(gen0):
    bdf = _endpoints(Machine.from_bytes(gen0), 1)[0]
    m = Machine.from_bytes(gen0)
    m.preserve(bdf)
    built = dict.__len__(m.kernel.devices)
    assert 1 < built < 16, f"{built} pci_devs built for one preserve"
    assert len(m.kernel.devices) > 3 * kernel_note.CHUNK_ROWS - 1
    assert type(m.fabric).__name__ == "LazyFabric"        # no config cycle was routed


def test_a_save_after_one_preserve_is_what_a_whole_build_saves(gen0):
    first, last = _endpoints(Machine.from_bytes(gen0))
    lazy = Machine.from_bytes(gen0)
    lazy.preserve(last)
    whole = Machine.from_bytes(gen0)
    whole.forget_encoded()
    whole.preserve(last)
    saved = lazy.to_bytes()
    assert saved == whole.to_bytes()
    back = Machine.from_bytes(saved)
    rep = {d["bdf"]: d for d in back.report()["devices"]}
    assert rep[last]["outgoing"] and not rep[first]["outgoing"]


def test_unchanged_device_chunks_are_written_back_as_read(gen0):
    _first, last = _endpoints(Machine.from_bytes(gen0))
    m = Machine.from_bytes(gen0)
    m.preserve(last)
    before, after = _kernel_sections(gen0), _kernel_sections(m.to_bytes())
    same = [a == b for a, b in zip(before[3:], after[3:])]
    assert len(same) >= 3 and same.count(False) == 1, same
    assert before[1:3] == after[1:3]                     # bus rows and keys


def test_the_outgoing_pci_ser_is_read_from_the_memory_image(gen0):
    bdf = _endpoints(Machine.from_bytes(gen0), 1)[0]
    m = Machine.from_bytes(gen0)
    m.preserve(bdf)
    data = m.to_bytes()
    back = Machine.from_bytes(data)
    ser = back.kernel.pci_flb.out_obj
    assert bytes(ser.blob) == bytes(m.kernel.pci_flb.out_obj.blob)
    assert bytes(ser.blob) == back.mem.read(ser.pa, len(ser.blob))


def test_a_corrupt_device_chunk_is_one_bad_input_naming_the_note(gen0, tmp_path):
    _mem, notes = elfcore.read_elf_core(gen0)
    note = bytearray(elfcore.pcilu_notes(notes)[elfcore.NT_PCILU_KERNEL])
    kept = kernel_note.Kept(bytes(note), 1 << 30, "x")
    at = len(note) - len(kept.sections[-1]) + 4            # inside the last chunk's zlib data
    note[at:at + 8] = b"\xff" * 8
    bad = _state_with_notes(gen0, {elfcore.NT_PCILU_KERNEL: bytes(note)})
    m = Machine.from_bytes(bad, file="bad.elf")
    with pytest.raises(BadInput) as e:
        m.report()
    assert "bad.elf" in str(e.value) and "PCILU kernel note" in str(e.value)


def test_a_row_names_the_port_type_by_its_pci_exp_type_number():
    # PCI_EXP_TYPE_ROOT_PORT is 4, PCI_EXP_TYPE_RC_EC 0xa (pci_regs.h); the row keeps it + 1
    from pcilu_cli.abi.kernel_note import port_type_code, port_type_of_code
    from pcilu_cli.abi.pci_regs import PciExpType
    assert port_type_code(None) == 0 and port_type_of_code(0) is None
    assert port_type_code(PciExpType.ROOT_PORT) == 5
    assert port_type_of_code(5) is PciExpType.ROOT_PORT
    assert port_type_code(PciExpType.RC_EC) == 11 and port_type_of_code(11) is PciExpType.RC_EC
    # a reserved Device/Port Type survives a save (it used to come back as "no PCIe")
    reserved = port_type_of_code(port_type_code(PciExpType(3)))
    assert isinstance(reserved, PciExpType) and reserved == 3 and reserved.word == "type0x3"
    with pytest.raises(ValueError):
        port_type_of_code(17)


def _rewrite_first_row(note: bytes, offset_in_rest: int, value: bytes) -> bytes:
    import zlib
    from pcilu_cli.abi.kernel_note import NOTE_HEADER, NOTE_KEY, NOTE_LEN
    kept = kernel_note.Kept(note, 1 << 30, "x")
    raw = bytearray(kept.section_raw(3))
    at = kept.rows_in(0) * NOTE_KEY.size + offset_in_rest
    raw[at:at + len(value)] = value
    sections = list(kept.sections)
    sections[3] = zlib.compress(bytes(raw))
    return note[:NOTE_HEADER.size] + b"".join(NOTE_LEN.pack(len(s)) for s in sections) \
        + b"".join(sections)


def test_a_port_type_past_its_field_is_one_bad_input(gen0):
    _mem, notes = elfcore.read_elf_core(gen0)
    note = bytes(elfcore.pcilu_notes(notes)[elfcore.NT_PCILU_KERNEL])
    bad = _state_with_notes(gen0, {elfcore.NT_PCILU_KERNEL: _rewrite_first_row(note, 1, b"\xee")})
    m = Machine.from_bytes(bad, file="bad.elf")
    with pytest.raises(BadInput) as e:
        m.report()
    assert "bad.elf" in str(e.value) and "PCILU kernel note" in str(e.value)


def _with_section(note: bytes, i: int, raw: bytes) -> bytes:
    import zlib
    from pcilu_cli.abi.kernel_note import NOTE_HEADER, NOTE_LEN
    sections = list(kernel_note.Kept(note, 1 << 30, "x").sections)
    sections[i] = zlib.compress(raw)
    return note[:NOTE_HEADER.size] + b"".join(NOTE_LEN.pack(len(s)) for s in sections) \
        + b"".join(sections)


def test_a_device_key_that_appears_twice_is_one_bad_input(gen0):
    _mem, notes = elfcore.read_elf_core(gen0)
    note = bytes(elfcore.pcilu_notes(notes)[elfcore.NT_PCILU_KERNEL])
    keys = kernel_note.Kept(note, 1 << 30, "x").section_raw(2)
    twice = keys[:8] + keys[:8] + keys[16:]                 # the second row repeats the first
    bad = _state_with_notes(gen0, {elfcore.NT_PCILU_KERNEL: _with_section(note, 2, twice)})
    with pytest.raises(BadInput) as e:
        Machine.from_bytes(bad, file="bad.elf")
    assert "appears twice" in str(e.value) and "bad.elf" in str(e.value)


def test_devices_registered_out_of_bus_order_are_found_device_by_device():
    # firmware-assigned odd bus numbers: the kernel registers devices out of bus-number order,
    # so the note's keys do not ascend; every device is still found by its address
    from pcilu_cli.fabric import load_fabric
    from tests.conftest import ROOT
    m = Machine.boot(load_fabric(ROOT / "fixtures" / "fabrics" / "odd-bus-numbers.yaml"))
    keys = list(m.kernel.devices)
    assert keys != sorted(keys)
    data = m.to_bytes()
    whole = Machine.from_bytes(data)
    whole.forget_encoded()
    for key in keys:
        lazy = Machine.from_bytes(data)
        assert lazy.kernel.devices[key].name == whole.kernel.devices[key].name
        assert dict.__len__(lazy.kernel.devices) < len(keys)
    assert Machine.from_bytes(data).report() == whole.report()


# ---- the bus rows section ------------------------------------------------------------------

def _with_bus_section(data: bytes, raw: bytes) -> bytes:
    """``data`` with its kernel note's bus rows section replaced by ``raw`` (compressed)."""
    import struct
    import zlib
    mem, notes = elfcore.read_elf_core(data)
    out = []
    for name, ntype, desc in notes:
        desc = bytes(desc)
        if name == elfcore.NOTE_NAME and ntype == elfcore.NT_PCILU_KERNEL:
            kept = kernel_note.Kept(desc, 1 << 30, "x")
            secs = list(kept.sections)
            secs[1] = zlib.compress(raw)
            head = desc[:20]
            desc = head + struct.pack(f"<{len(secs)}I", *map(len, secs)) + b"".join(secs)
        out.append((name, ntype, desc))
    return elfcore.write_elf_core(mem, out)


def _bus_section(data: bytes) -> bytes:
    import zlib
    return zlib.decompress(_kernel_sections(data)[1])


def test_the_bus_rows_are_one_fixed_size_row_per_bus(gen0):
    """Each pci_bus is a 29-byte little-endian row after the section's magic: bus and parent
    as domain << 8 | number, the bridge's device key, busn_res, flags (virtual, root)."""
    import struct
    raw = _bus_section(gen0)
    assert raw[:8] == b"PCILUBR1" and (len(raw) - 8) % 29 == 0
    rows = list(struct.iter_unpack("<QqqHHB", raw[8:]))
    m = Machine.from_bytes(gen0)
    buses = list(m.kernel.buses.values())
    assert [(r[0] >> 8, r[0] & 0xFF) for r in rows] == [(b.domain, b.number) for b in buses]
    assert [r[1] for r in rows] == [-1 if b.self is None else b.self.key for b in buses]
    assert [(r[3], r[4]) for r in rows] == [(b.start, b.end) for b in buses]
    assert sum(r[5] >> 1 & 1 for r in rows) == len(m.kernel.root_buses) >= 1
    assert all(r[2] == -1 for r in rows if r[5] & 2)


def test_a_state_with_the_json_bus_rows_of_earlier_versions_still_loads(gen0):
    """Files written before the bus rows became binary hold a JSON list there: read as
    before, and the same kernel comes out (its next save writes the binary rows)."""
    import json
    m = Machine.from_bytes(gen0)
    roots = set(map(id, m.kernel.root_buses))
    legacy = json.dumps([[b.domain, b.number, -1 if b.self is None else b.self.key,
                          None if b.parent is None else [b.parent.domain, b.parent.number],
                          b.start, b.end, int(b.virtual), int(id(b) in roots)]
                         for b in m.kernel.buses.values()], separators=(",", ":")).encode()
    old = _with_bus_section(gen0, legacy)
    bdf = _endpoints(Machine.from_bytes(gen0), 1)[0]
    a, b = Machine.from_bytes(gen0), Machine.from_bytes(old)
    assert a.report() == b.report()
    a.preserve(bdf)
    b.preserve(bdf)
    assert a.report() == b.report()
    assert a.kexec().report() == b.kexec().report()
    again = Machine.from_bytes(old)
    again.forget_encoded()
    assert _bus_section(again.to_bytes())[:8] == b"PCILUBR1"


@pytest.mark.parametrize("damage", ["ragged", "unknown parent", "not json"])
def test_damaged_bus_rows_are_bad_input_naming_the_note(gen0, damage):
    raw = _bus_section(gen0)
    bad = {"ragged": raw[:-3], "unknown parent": raw[:8 + 16] + (0x7FFF00).to_bytes(8, "little",
                                                                                 signed=True)
           + raw[8 + 24:], "not json": b"{not a list"}[damage]
    m = Machine.from_bytes(_with_bus_section(gen0, bad))
    with pytest.raises(BadInput) as e:
        m.kernel.devices.values()
        m.kexec()
    assert e.value.field == "PCILU kernel note"
    # the on-demand path (a preserve builds the devices on one path: the bus rows are read
    # by their key and bridge columns, not whole) refuses them too
    one = Machine.from_bytes(_with_bus_section(gen0, bad))
    with pytest.raises(BadInput) as e:
        one.preserve(_endpoints(Machine.from_bytes(gen0), 1)[0])
    assert e.value.field == "PCILU kernel note"


def _with_first_chunk_uids(note: bytes, uids_json: bytes) -> bytes:
    from pcilu_cli.abi.kernel_note import NOTE_KEY, NOTE_ROW
    kept = kernel_note.Kept(note, 1 << 30, "x")
    n = kept.rows_in(0)
    raw = kept.section_raw(3)[:n * (NOTE_KEY.size + NOTE_ROW.size)] + uids_json
    return _with_section(note, 3, raw)


def test_a_chunks_uid_list_is_checked_against_its_rows_however_it_is_spelled(gen0):
    import json
    _mem, notes = elfcore.read_elf_core(gen0)
    note = bytes(elfcore.pcilu_notes(notes)[elfcore.NT_PCILU_KERNEL])
    kept = kernel_note.Kept(note, 1 << 30, "x")
    n = kept.rows_in(0)
    from pcilu_cli.abi.bdf import key_name
    names = [key_name(kept.row(i)[0]) for i in range(n)]
    # the synthetic fabric's uids are its BDFs: the chunk says so with "" throughout
    assert {kept.row(i)[-1] for i in range(n)} == {""}
    # the same uids spelled out (what a fabric with other uids would need) build the same
    spelled = _state_with_notes(gen0, {elfcore.NT_PCILU_KERNEL: _with_first_chunk_uids(
        note, json.dumps(names).encode())})
    assert Machine.from_bytes(spelled).report() == Machine.from_bytes(gen0).report()
    for bad in (json.dumps([""] * (n - 1)), json.dumps([""] * (n + 1)),
                json.dumps([""] * (n - 1) + [7]), "[" + ",".join(['""'] * n)):
        state = _state_with_notes(gen0, {elfcore.NT_PCILU_KERNEL: _with_first_chunk_uids(
            note, bad.encode())})
        m = Machine.from_bytes(state, file="bad.elf")
        with pytest.raises(BadInput) as e:
            m.report()
        assert "bad.elf" in str(e.value) and "PCILU kernel note" in str(e.value), bad[-20:]


def test_devices_built_one_by_one_are_what_the_bulk_build_makes(gen0):
    """The on-demand build (one row, its bus and bridges above) and the one-pass build of
    every row set each pci_dev field alike, and a key the note lacks finds no row."""
    from pcilu_cli.kernel.pcidev import PciDev
    first, last = _endpoints(Machine.from_bytes(gen0))
    m = Machine.from_bytes(gen0)
    m.preserve(last)
    saved = m.to_bytes()
    lazy, whole = Machine.from_bytes(saved), Machine.from_bytes(saved)
    whole.kernel.devices.values()
    keys = list(whole.kernel.devices)
    picked = [keys[0], keys[len(keys) // 2], keys[-1]] + [
        d.key for d in whole.kernel.devices.values() if d.name in (first, last)]
    for key in picked:
        a, b = lazy.kernel.devices[key], whole.kernel.devices[key]
        for field in PciDev.__slots__:
            va, vb = getattr(a, field), getattr(b, field)
            if field in ("bus", "subordinate"):
                va, vb = (None if x is None else (x.domain, x.number) for x in (va, vb))
            elif field in ("physfn",):
                va, vb = (None if x is None else x.key for x in (va, vb))
            elif field == "fn":
                va, vb = va.uid, vb.uid
            assert va == vb, (a.name, field)
        assert (a.bus.self is None) == (b.bus.self is None)
    assert lazy.kernel.devices[picked[-1]].outgoing is not None
    kept = lazy._kernel_kept
    assert kept.find(max(keys) + 1) == -1 and kept.find("0000:00:00.0") == -1
    assert lazy.kernel.devices.get(max(keys) + 1) is None
