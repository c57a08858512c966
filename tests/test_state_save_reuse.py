# SPDX-License-Identifier: GPL-2.0-only
"""A state save after a change that leaves the hardware alone writes the fabric note back as it
was read (no re-encoding of every config space); any change to the hardware — a register, a
knob, the topology — is saved, never hidden behind the kept bytes."""
import json

import pytest

from pcilu_cli.fabric.build import small_fabric
from pcilu_cli.fabric.synth import synth_fabric
from pcilu_cli.memory import elfcore
from pcilu_cli.state import Machine


def _fabric_note(data: bytes) -> bytes:
    _mem, notes = elfcore.read_elf_core(data)
    return bytes(elfcore.pcilu_notes(notes)[elfcore.NT_PCILU_FABRIC])


def _endpoint(m):
    return next(d["bdf"] for d in m.report()["devices"] if d["kind"] == "endpoint")


def _gen0():
    m = Machine.boot(small_fabric("switch"))
    return m.to_bytes()


def test_preserve_then_save_reuses_the_fabric_note_it_loaded(monkeypatch):
    from pcilu_cli.fabric.model import Fabric
    first = _gen0()
    m = Machine.from_bytes(first)
    bdf = _endpoint(m)
    m.preserve(bdf)

    def no_encoding(self):
        raise AssertionError("the unchanged fabric was encoded again")
    with monkeypatch.context() as mp:
        mp.setattr(Fabric, "_records", no_encoding)
        second = m.to_bytes()
    assert _fabric_note(second) == _fabric_note(first)
    again = Machine.from_bytes(second)
    assert any(d["bdf"] == bdf and d["outgoing"] for d in again.report()["devices"])
    # the same save with nothing kept encodes to the same bytes
    m.forget_encoded()
    assert m.to_bytes() == second


def test_a_register_written_after_load_is_saved():
    m = Machine.from_bytes(_gen0())
    fn = next(f for f in m.fabric.functions() if f.header_type == 0)
    old = fn.cfg.read(0x3C, 1)
    fn.cfg.write(0x3C, 1, old ^ 0x5A)          # Interrupt Line
    back = Machine.from_bytes(m.to_bytes())
    assert back.fabric.by_uid(fn.uid).cfg.read(0x3C, 1) == old ^ 0x5A


def test_a_knob_set_after_load_is_saved():
    m = Machine.from_bytes(_gen0())
    fn = next(iter(m.fabric.functions()))
    fn.knobs["reset_on_kexec"] = True
    back = Machine.from_bytes(m.to_bytes())
    assert back.fabric.by_uid(fn.uid).knob("reset_on_kexec") is True


def test_kexec_of_a_loaded_state_saves_the_registers_it_changed():
    m = Machine.from_bytes(_gen0())
    bdf = _endpoint(m)
    m.preserve(bdf)
    nxt = m.kexec()
    saved = nxt.to_bytes()
    nxt.forget_encoded()
    assert nxt.to_bytes() == saved             # nothing stale was written back


@pytest.fixture(scope="module")
def gen0_synth() -> bytes:
    return Machine.boot(synth_fabric(64)).to_bytes()


def _metadata_note(data: bytes) -> bytes:
    _mem, notes = elfcore.read_elf_core(data)
    return bytes(elfcore.pcilu_notes(notes)[elfcore.NT_PCILU_METADATA])


@pytest.mark.parametrize("cleared", [
    [("0000:01:00.0", "0000:01:00.0"), ("0000:02:00.0", "0000:02:00.0")],   # names only
    [("0000:01:00.0", "0000:01:00.0"), ("0000:02:00.0", "nic,port 2")],      # a pair
    [("a\"b", "a\"b"), ("c", "c")],                                           # a quote
    [("back\\slash", "back\\slash")], [("tab\there", "tab\there")],
    [("del\x7f", "del\x7f")], [("caf\u00e9", "caf\u00e9")], [("", "")],
    [("a\",\"b", "a\",\"b")],                      # a name holding the join itself
    [],
])
def test_a_saved_cleared_list_is_what_json_dumps_writes_and_reads_back(gen0_synth, cleared):
    """The metadata note is json.dumps of the metadata, byte for byte, however the long
    bus_master_cleared list is spelled (its plain names are joined, not encoded)."""
    m = Machine.from_bytes(gen0_synth)
    m.bus_master_cleared = list(cleared)
    saved = m.to_bytes()
    assert _metadata_note(saved) == json.dumps(m.metadata(), separators=(",", ":")).encode()
    back = Machine.from_bytes(saved)
    assert back.bus_master_cleared == cleared
    # a save of the list as read (never converted to pairs) writes the same note again
    assert _metadata_note(Machine.from_bytes(saved).to_bytes()) == _metadata_note(saved)
