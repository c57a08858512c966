# SPDX-License-Identifier: GPL-2.0-only
"""A state file's fabric is decoded on demand (fabric/lazy.py): a function handed out before
the build is the one in the built tree, and what changed on it is saved."""
from pcilu_cli.fabric.build import small_fabric
from pcilu_cli.state import Machine


def _gen0():
    return Machine.boot(small_fabric("switch")).to_bytes()


def _uids(data):
    return [f.uid for f in Machine.from_bytes(data).fabric.functions()]


def test_a_function_handed_out_before_the_build_is_the_one_in_the_tree():
    data = _gen0()
    uid = _uids(data)[-1]
    m = Machine.from_bytes(data)
    fn = m.fabric.by_uid(uid)
    assert type(m.fabric).__name__ == "LazyFabric"
    assert any(f is fn for f in m.fabric.functions())       # builds the whole fabric
    assert type(m.fabric).__name__ == "Fabric" and m.fabric.by_uid(uid) is fn
    assert fn.upstream is not None and fn.upstream.downstream[fn.devfn] is fn


def test_a_register_written_before_the_build_is_saved():
    data = _gen0()
    uid = _uids(data)[-1]
    m = Machine.from_bytes(data)
    fn = m.fabric.by_uid(uid)
    old = fn.cfg.read(0x3C, 1)
    fn.cfg.write(0x3C, 1, old ^ 0x5A)
    back = Machine.from_bytes(m.to_bytes())
    assert back.fabric.by_uid(uid).cfg.read(0x3C, 1) == old ^ 0x5A


def test_a_knob_set_before_the_build_is_saved():
    data = _gen0()
    uid = _uids(data)[1]
    m = Machine.from_bytes(data)
    m.fabric.by_uid(uid).knobs["reset_on_kexec"] = True
    back = Machine.from_bytes(m.to_bytes())
    assert back.fabric.by_uid(uid).knob("reset_on_kexec") is True


def test_an_untouched_fabric_saves_the_note_it_was_read_from():
    data = _gen0()
    m = Machine.from_bytes(data)
    assert m.to_bytes() == data
    assert type(m.fabric).__name__ == "LazyFabric"
