# SPDX-License-Identifier: GPL-2.0-only
"""The uid column of a serialized fabric (fabric/uid_column.py, PCILUFAB version 2): a
command finds the functions it touches by uid without decoding every uid; version 1 files
(a JSON list of uids) are still read, and a column from another machine that points
anywhere it should not is refused with one line, exit 3."""
import json
import struct
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from pcilu_cli.abi import fabric_file as ff
from pcilu_cli.abi.codec import parse
from pcilu_cli.fabric import lazy
from pcilu_cli.fabric.build import small_fabric
from pcilu_cli.fabric.model import Fabric
from pcilu_cli.fabric.uid_column import UidColumn, encode
from pcilu_cli.memory import elfcore
from pcilu_cli.state import Machine
from tests.pcilu_run import run

HSIZE = ff.pcilu_fabric_header.sizeof()


def _parts(data: bytes):
    """(header, body fields, meta, table, ends, orders, text, blobs) of a version-2 fabric,
    read with the Construct declarations alone."""
    head = parse(ff.pcilu_fabric_header, data)
    body = zlib.decompress(data[HSIZE:])
    hdr = parse(ff.pcilu_fabric_body, body)
    n, pos = hdr.nr_functions, ff.pcilu_fabric_body.sizeof()
    meta = json.loads(body[pos:pos + hdr.meta_len])
    pos += hdr.meta_len
    table = body[pos:pos + hdr.table_len]
    pos += hdr.table_len
    end_size, order_size = (ff.pcilu_fabric_uid_end.sizeof(),
                            ff.pcilu_fabric_uid_order.sizeof())
    ends = [parse(ff.pcilu_fabric_uid_end, body, pos + i * end_size).end for i in range(n)]
    pos += n * end_size
    orders = [parse(ff.pcilu_fabric_uid_order, body, pos + i * order_size).record
              for i in range(n)]
    pos += n * order_size
    text = body[pos:pos + hdr.uids_len]
    return head, hdr, meta, table, ends, orders, text, body[pos + hdr.uids_len:]


def _to_v1(data: bytes) -> bytes:
    """The same fabric as version 1 wrote it: the uids as a JSON list in the meta, no
    column (built from the declarations, as an older pcilu's file would be)."""
    _head, hdr, meta, table, ends, _orders, text, blobs = _parts(data)
    starts = [0, *ends[:-1]]
    meta = dict(meta, uids=[text[a:b].decode() for a, b in zip(starts, ends)])
    raw = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    body = ff.FABRIC_BODY_V1.pack(len(raw), len(table), hdr.nr_functions) + raw + table + blobs
    return ff.FABRIC_HEADER.pack(ff.FABRIC_MAGIC, 1) + zlib.compress(body)


def _with_body(data: bytes, edit) -> bytes:
    """``data`` with its inflated body passed through ``edit(bytearray, fields)``."""
    body = bytearray(zlib.decompress(data[HSIZE:]))
    edit(body, ff.FABRIC_BODY.unpack_from(body, 0))
    return data[:HSIZE] + zlib.compress(bytes(body))


def _state_with_fabric(m: Machine, note: bytes, *, fmt: int | None = None) -> bytes:
    """``m``'s state file with ``note`` as its fabric note (and ``fmt`` as the metadata's
    state format: 2 is what a pcilu that wrote version-1 fabric notes recorded)."""
    mem, notes = elfcore.read_elf_core(m.to_bytes())
    out = []
    for nm, t, d in notes:
        d = bytes(d)
        if t == elfcore.NT_PCILU_FABRIC:
            d = note
        elif t == elfcore.NT_PCILU_METADATA and fmt is not None:
            d = json.dumps(dict(json.loads(d), format=fmt)).encode()
        out.append((nm, t, d))
    return elfcore.write_elf_core(mem, out)


def _fabric_note(m: Machine) -> bytes:
    _mem, notes = elfcore.read_elf_core(m.to_bytes())
    return next(bytes(d) for _n, t, d in notes if t == elfcore.NT_PCILU_FABRIC)


# ---- the column --------------------------------------------------------------------------

uid_lists = st.lists(st.text(min_size=1, max_size=24) | st.sampled_from(["\ud800x", "é", "a"]),
                     unique=True, max_size=40)


@settings(max_examples=200, deadline=None)
@given(uids=uid_lists, other=st.text(max_size=24))
def test_every_uid_is_found_at_its_record_and_no_other_is(uids, other):
    runs, text = encode(uids)
    col = UidColumn(runs, text, len(uids))
    assert len(col) == len(uids) and col.tolist() == uids
    assert [col[i] for i in range(len(uids))] == uids
    assert [col.index(u) for u in uids] == list(range(len(uids)))
    assert col.index(other) == (uids.index(other) if other in uids else None)


def test_a_fabric_file_is_version_2_with_its_uids_in_a_column():
    fab = small_fabric("switch")
    uids = [fn.uid for fn, *_ in fab._record_walk()]
    head, hdr, meta, table, ends, orders, text, _blobs = _parts(fab.to_bytes())
    assert (head.magic, head.version) == (ff.FABRIC_MAGIC, 2)
    assert "uids" not in meta and hdr.nr_functions == len(uids) == len(ends)
    # record i's uid is the text from end i-1 to end i, in record order
    assert [text[a:b].decode() for a, b in zip([0, *ends[:-1]], ends)] == uids
    # the order lists the records by the bytes of their uids
    assert sorted(orders) == list(range(len(uids)))
    assert [uids[i].encode() for i in orders] == sorted(u.encode() for u in uids)


def test_a_lazy_fabric_hands_out_a_function_without_reading_every_uid():
    fab = small_fabric("switch")
    want = [fn.uid for fn in fab.functions()]
    got = lazy.from_bytes(fab.to_bytes())
    assert len(got) == len(want) and not got.has_uid("0000:ff:1f.7")
    fn = got.by_uid(want[-1])
    assert fn.uid == want[-1] and type(got).__name__ == "LazyFabric"
    with pytest.raises(KeyError):
        got.by_uid("nothing")


# ---- version 1 ---------------------------------------------------------------------------

def test_a_version_1_fabric_reads_as_the_same_fabric():
    fab = small_fabric("switch")
    v2 = fab.to_bytes()
    v1 = _to_v1(v2)
    assert v1[8:10] == b"\x01\x00"
    eager, lazily = Fabric.from_bytes(v1), lazy.from_bytes(v1)
    for got in (eager, lazily):
        assert [f.uid for f in got.functions()] == [f.uid for f in fab.functions()]
        assert [f.cfg.read(0, 4) for f in got.functions()] == \
            [f.cfg.read(0, 4) for f in fab.functions()]
    # an unchanged fabric keeps the bytes it was read from; a changed one is written anew
    assert Fabric.from_bytes(v1).to_bytes() == v1
    changed = Fabric.from_bytes(v1)
    changed.forget_encoded()
    assert changed.to_bytes() == v2


def test_a_state_whose_fabric_note_is_version_1_takes_a_preserve_and_a_kexec(tmp_path):
    """A state written by an older pcilu (state format 2): its fabric note has no uid
    column. `preserve` finds its devices' functions through the JSON list and keeps the note
    as it was read (nothing in the fabric changed); `kexec` changes config space and writes
    version 2. Both write state format 3."""
    m = Machine.boot(small_fabric("switch"))
    v1 = _to_v1(_fabric_note(m))
    old, new = tmp_path / "old.state", tmp_path / "new.state"
    old.write_bytes(_state_with_fabric(m, v1, fmt=2))
    key, dev = next((k, d) for k, d in m.kernel.devices.items() if d.hdr_type == 0)
    run(["preserve", old, dev.name])
    back = Machine.from_bytes(old.read_bytes())
    assert back.kernel.devices[key].outgoing is not None
    assert _fabric_note(back) == v1
    run(["kexec", old, "-o", new])
    nxt = Machine.from_bytes(new.read_bytes())
    assert _fabric_note(nxt)[8:10] == b"\x02\x00"
    assert run(["inspect", old, "--json"]).json()["format"] == 3
    assert nxt.kernel.devices[key].incoming is not None
    assert [f.uid for f in nxt.fabric.functions()] == [f.uid for f in m.fabric.functions()]


# ---- hostile columns ---------------------------------------------------------------------

def _first_order(body, fields):
    meta_len, table_len, n, _ulen = fields
    return ff.FABRIC_BODY.size + meta_len + table_len + n * ff.FABRIC_UID_END.size


def _order_past_the_column(body, fields):
    struct.pack_into("<I", body, _first_order(body, fields), 1 << 30)


def _ends_backwards(body, fields):
    meta_len, table_len, n, _ulen = fields
    at = ff.FABRIC_BODY.size + meta_len + table_len
    struct.pack_into("<I", body, at, 1 << 20)       # end 0 past everything after it


def _text_cut_short(body, fields):
    meta_len, table_len, n, ulen = fields
    ff.FABRIC_BODY.pack_into(body, 0, meta_len, table_len, n, ulen + 4096)


@pytest.mark.parametrize("edit", [_order_past_the_column, _ends_backwards, _text_cut_short])
@pytest.mark.parametrize("argv", [["preserve", "{file}", "{bdf}"], ["fabric", "show", "{file}"]])
def test_a_crafted_uid_column_is_refused_with_one_line(tmp_path, edit, argv):
    m = Machine.boot(small_fabric("switch"))
    bad = tmp_path / "bad.state"
    bad.write_bytes(_state_with_fabric(m, _with_body(_fabric_note(m), edit)))
    bdf = next(d.name for d in m.kernel.devices.values() if d.hdr_type == 0)
    before = bad.read_bytes()
    res = run([a.format(file=bad, bdf=bdf) for a in argv], exit_code=3)
    assert res.stderr.count("\n") == 1 and str(bad) in res.stderr, res.stderr
    assert "fabric note" in res.stderr and "Traceback" not in res.stderr
    assert bad.read_bytes() == before                   # nothing written back


def test_a_uid_order_out_of_order_is_refused_by_a_full_build(tmp_path):
    """Two records swapped in the order: every value is a record, but a lookup could miss a
    uid. A command that builds the whole fabric checks the order and refuses it."""
    def swap(body, fields):
        at = _first_order(body, fields)
        a, b = struct.unpack_from("<II", body, at)
        struct.pack_into("<II", body, at, b, a)
    bad = tmp_path / "swapped.fab"
    bad.write_bytes(_with_body(small_fabric("switch").to_bytes(), swap))
    res = run(["fabric", "show", bad, "--json"], exit_code=3)
    assert "uid order" in json.loads(res.stdout)["message"]


def test_a_fabric_of_a_version_this_pcilu_does_not_know_is_refused(tmp_path):
    data = bytearray(small_fabric("switch").to_bytes())
    struct.pack_into("<H", data, 8, 3)
    bad = tmp_path / "v3.fab"
    bad.write_bytes(bytes(data))
    res = run(["fabric", "show", bad, "--json"], exit_code=3)
    doc = json.loads(res.stdout)
    assert (doc["file"], doc["field"]) == (str(bad), "version")
    assert "version 3" in doc["message"] and "1 and 2" in doc["message"]


def test_a_fabric_declaring_more_uid_text_than_its_functions_may_have_is_refused(tmp_path):
    def edit(body, fields):
        meta_len, table_len, n, _ulen = fields
        ff.FABRIC_BODY.pack_into(body, 0, meta_len, table_len, n, n * 1024 + 1)
    bad = tmp_path / "big.fab"
    bad.write_bytes(_with_body(small_fabric("switch").to_bytes(), edit))
    res = run(["fabric", "show", bad, "--json"], exit_code=3)
    assert json.loads(res.stdout)["field"] == "uids"
