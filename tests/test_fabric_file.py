# SPDX-License-Identifier: GPL-2.0-only
"""The serialized fabric (pcilu_cli/abi/fabric_file.py): what `pcilu generate` writes is the
declared header, body and one record per function."""
import zlib

from pcilu_cli.abi import fabric_file as ff
from pcilu_cli.abi.codec import parse
from pcilu_cli.fabric.build import small_fabric


def test_a_serialized_fabric_is_the_declared_records():
    fab = small_fabric("switch")
    data = fab.to_bytes()
    head = parse(ff.pcilu_fabric_header, data)
    assert (head.magic, head.version) == (ff.FABRIC_MAGIC, ff.FABRIC_VERSION)
    body = zlib.decompress(data[ff.pcilu_fabric_header.sizeof():])
    hdr = parse(ff.pcilu_fabric_body, body)
    assert hdr.nr_functions == len(list(fab.functions()))
    assert hdr.table_len == hdr.nr_functions * ff.pcilu_fabric_record.sizeof()
    start = ff.pcilu_fabric_body.sizeof() + hdr.meta_len
    recs = [parse(ff.pcilu_fabric_record, body, start + i * ff.FABRIC_RECORD.size)
            for i in range(hdr.nr_functions)]
    # the host bridge and the root port sit on the root bus; everything else has a parent
    assert sum(1 for r in recs if r.parent == -1) == 2
    assert all(-1 <= r.parent < i for i, r in enumerate(recs))
    assert {r.devfn for r in recs} == {fn.devfn for fn in fab.functions()}


def test_a_bad_serialized_fabric_names_its_file_and_field_in_the_error_json(tmp_path):
    """A .fab from another machine whose body declares a record table of the wrong size: the
    error (one line, exit 3) names the file and the field, and `--json` carries both as
    fields a CI script can read, not only inside the message."""
    import json

    from tests.pcilu_run import run
    data = small_fabric("switch").to_bytes()
    hsize = ff.pcilu_fabric_header.sizeof()
    body = bytearray(zlib.decompress(data[hsize:]))
    meta_len, table_len, n, uids_len = ff.FABRIC_BODY.unpack_from(body, 0)
    ff.FABRIC_BODY.pack_into(body, 0, meta_len, table_len + 1, n, uids_len)
    bad = tmp_path / "bad.fab"
    bad.write_bytes(data[:hsize] + zlib.compress(bytes(body)))
    res = run(["fabric", "show", bad, "--json"], exit_code=3)
    doc = json.loads(res.stdout)
    assert (doc["file"], doc["field"]) == (str(bad), "table")
    assert res.stderr.count("\n") == 1 and "field table" in res.stderr


def test_a_bad_fabric_note_in_a_state_keeps_the_decoders_field(tmp_path):
    """The same damage inside a state file's fabric note: the field is the note, then the
    decoder's own field (one path a script can split), and the message says each once."""
    import json

    from pcilu_cli.memory import elfcore
    from pcilu_cli.state import Machine
    from tests.pcilu_run import run
    m = Machine.boot(small_fabric("switch"))
    data = m.to_bytes()
    mem, notes = elfcore.read_elf_core(data)
    fab = dict(((n, t), d) for n, t, d in notes)[(elfcore.NOTE_NAME, elfcore.NT_PCILU_FABRIC)]
    hsize = ff.pcilu_fabric_header.sizeof()
    body = bytearray(zlib.decompress(fab[hsize:]))
    meta_len, table_len, n, uids_len = ff.FABRIC_BODY.unpack_from(body, 0)
    ff.FABRIC_BODY.pack_into(body, 0, meta_len, table_len + 1, n, uids_len)
    bad_note = bytes(fab[:hsize]) + zlib.compress(bytes(body))
    notes = [(nm, t, bad_note if t == elfcore.NT_PCILU_FABRIC else bytes(d))
             for nm, t, d in notes]
    bad = tmp_path / "g0.elf"
    bad.write_bytes(elfcore.write_elf_core(mem, notes))
    res = run(["enumerate", bad, "--json"], exit_code=3)
    doc = json.loads(res.stdout)
    assert (doc["file"], doc["field"]) == (str(bad), "PCILU fabric note: table")
    assert res.stderr.count("fabric note") == 1, res.stderr


# ---- a save that reuses the records -------------------------------------------------------

def _fresh(fab):
    """What encoding ``fab`` from nothing writes: a copy knows no bytes it was read from."""
    return fab.copy().to_bytes()


def _forbid_walk(monkeypatch):
    from pcilu_cli.fabric.model import Fabric

    def walk(self):
        raise AssertionError("the records were walked again")
    monkeypatch.setattr(Fabric, "_record_walk", walk)


def test_a_save_after_config_writes_reuses_the_records_and_writes_a_fresh_encoding(
        monkeypatch):
    """Enumeration writes config space (bus numbers, Command, ACS, ARI) but moves no
    function: the save reuses the record table and uid column it read, and its bytes are
    what encoding the changed fabric from nothing writes."""
    from pcilu_cli.fabric.model import Fabric
    fab = Fabric.from_bytes(small_fabric("sriov").to_bytes())
    fns = list(fab.functions())
    fns[-1].cfg.write(0x3C, 1, 0x5A)
    fns[1].knobs["reset_on_kexec"] = True
    want = _fresh(fab)
    _forbid_walk(monkeypatch)
    assert fab.to_bytes() == want


def test_a_save_after_the_topology_changed_encodes_anew():
    """A function moved to another slot (hot-removed, then plugged in elsewhere: as many
    functions as before) changes the records: the save walks the fabric again rather than
    write the records it read."""
    from pcilu_cli.fabric.model import Fabric
    fab = Fabric.from_bytes(small_fabric("switch").to_bytes())
    leaf = list(fab.functions())[-1]
    other = next(f for f in fab.functions() if f.is_bridge and f is not leaf.upstream
                 and f.upstream is leaf.upstream.upstream)     # the other downstream port
    fab.detach(leaf)
    fab.attach(leaf, other, devfn=next(d for d in range(8, 256, 8)
                                       if d not in other.downstream))
    assert fab.to_bytes() == _fresh(fab)
    back = Fabric.from_bytes(fab.to_bytes())
    assert back.by_uid(leaf.uid).upstream.uid == other.uid


def test_a_note_whose_roots_are_not_sorted_is_encoded_anew(monkeypatch):
    """A crafted note may list its root buses out of order; a record names its root by its
    place in that list, and a save writes the roots sorted: such a note's records are not
    reused (the save walks the fabric), so every record still names its own root."""
    import json as _json

    from pcilu_cli.fabric.model import Fabric
    b = small_fabric("switch")
    b.add_root(1, 0)
    data = b.to_bytes()
    hsize = ff.pcilu_fabric_header.sizeof()
    body = bytearray(zlib.decompress(data[hsize:]))
    meta_len, table_len, n, uids_len = ff.FABRIC_BODY.unpack_from(body, 0)
    start = ff.FABRIC_BODY.size
    meta = _json.loads(body[start:start + meta_len])
    assert meta["roots"] == [[0, 0], [1, 0]]
    meta["roots"] = meta["roots"][::-1]              # records naming root 0 now mean 1:0
    raw = _json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    body[start:start + meta_len] = raw
    ff.FABRIC_BODY.pack_into(body, 0, len(raw), table_len, n, uids_len)
    fab = Fabric.from_bytes(data[:hsize] + zlib.compress(bytes(body)))
    assert {fn.root.domain for fn in fab.functions()} == {1}
    assert fab._layout is None
    fab.forget_encoded()
    back = Fabric.from_bytes(fab.to_bytes())
    assert {fn.root.domain for fn in back.functions()} == {1}
