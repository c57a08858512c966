# SPDX-License-Identifier: GPL-2.0-only
"""The state written by `pcilu kexec` keeps the enumerate document of that boot; `enumerate
--json` of the state prints it, and only while it still describes the state: any change
drops it, and a damaged one is refused naming the note."""
import zlib

from pcilu_run import ROOT, run

import pcilu
from pcilu_cli.memory import elfcore

FABRIC = ROOT / "fixtures" / "fabrics" / "qemu-virtio-net.yaml"


def _endpoints(state):
    return [d["bdf"] for d in run(["enumerate", state, "--json"]).json()["devices"]
            if d["kind"] == "endpoint"]


def _kexeced(tmp_path):
    s0, s1 = tmp_path / "gen0.elf", tmp_path / "gen1.elf"
    run(["init", FABRIC, "-o", s0])
    eps = _endpoints(s0)
    run(["preserve", s0, eps[0]])
    run(["kexec", s0, "-o", s1])
    return s1, eps


def _notes(path):
    _mem, notes = elfcore.read_elf_core(path.read_bytes())
    return elfcore.pcilu_notes(notes)


def _with_report_note(path, out, raw):
    """``path`` with its report note replaced by ``raw`` (everything else as it was)."""
    data = path.read_bytes()
    mem, notes = elfcore.read_elf_core(data)
    notes = [(n, t, raw if t == elfcore.NT_PCILU_REPORT else bytes(d)) for n, t, d in notes]
    out.write_bytes(elfcore.write_elf_core(mem, notes))
    return out


def test_enumerate_of_a_kexeced_state_is_the_document_the_state_describes(tmp_path):
    s1, eps = _kexeced(tmp_path)
    assert elfcore.NT_PCILU_REPORT in _notes(s1)
    printed = run(["enumerate", s1, "--json"]).json()
    computed = pcilu.load(str(s1)).enumerate()          # the API rebuilds it from the state
    assert printed == computed
    dev = next(d for d in printed["devices"] if d["bdf"] == eps[0])
    assert dev["incoming"] and dev["enumerated"]


def test_a_change_drops_the_kept_document_and_enumerate_shows_the_change(tmp_path):
    s1, eps = _kexeced(tmp_path)
    before = run(["enumerate", s1, "--json"]).json()
    run(["finish", s1, eps[0]])
    assert elfcore.NT_PCILU_REPORT not in _notes(s1)
    after = run(["enumerate", s1, "--json"]).json()
    assert after == pcilu.load(str(s1)).enumerate()
    assert after["flb"] != before["flb"]                 # the incoming FLB was finished


def test_kexec_of_a_kexeced_state_keeps_a_fresh_document(tmp_path):
    s1, _eps = _kexeced(tmp_path)
    s2 = tmp_path / "gen2.elf"
    run(["kexec", s1, "-o", s2])
    printed = run(["enumerate", s2, "--json"]).json()
    assert printed["generation"] == 2
    assert printed == pcilu.load(str(s2)).enumerate()


def test_a_report_note_that_does_not_inflate_is_refused_naming_the_note(tmp_path):
    s1, _eps = _kexeced(tmp_path)
    bad = _with_report_note(s1, tmp_path / "bad.elf", b"\x78\x9c not a zlib stream")
    res = run(["enumerate", bad, "--json"], exit_code=3)
    assert "PCILU report note" in res.stderr and str(bad) in res.stderr


def test_a_report_note_cut_short_is_refused(tmp_path):
    s1, _eps = _kexeced(tmp_path)
    raw = bytes(_notes(s1)[elfcore.NT_PCILU_REPORT])
    bad = _with_report_note(s1, tmp_path / "cut.elf", raw[:len(raw) // 2])
    res = run(["enumerate", bad, "--json"], exit_code=3)
    assert "PCILU report note" in res.stderr


def test_a_report_note_that_is_no_enumerate_document_is_refused(tmp_path):
    s1, _eps = _kexeced(tmp_path)
    bad = _with_report_note(s1, tmp_path / "other.elf", zlib.compress(b'{"kind":"error"}'))
    res = run(["enumerate", bad, "--json"], exit_code=3)
    assert "PCILU report note" in res.stderr


def test_a_report_note_inflating_past_its_bound_is_refused(tmp_path):
    s1, _eps = _kexeced(tmp_path)
    bomb = zlib.compress(b'{"kind":"enumerate",' + b" " * (64 << 20) + b"}", 9)
    bad = _with_report_note(s1, tmp_path / "bomb.elf", bomb)
    res = run(["enumerate", bad, "--json"], exit_code=3)
    assert "PCILU report note" in res.stderr and "more than" in res.stderr


def test_a_stored_document_is_written_out_byte_for_byte(tmp_path):
    """The kept document goes to stdout as the UTF-8 bytes it was stored as (text beyond
    ASCII too), without being decoded and encoded again."""
    s1, _eps = _kexeced(tmp_path)
    doc = '{"kind":"enumerate","devices":[],"name":"\u00e9t\u00e9 \u2014 \U0001f600"}'
    odd = _with_report_note(s1, tmp_path / "odd.elf", zlib.compress(doc.encode()))
    assert run(["enumerate", odd, "--json"]).stdout == doc + "\n"


def test_a_stored_document_that_is_not_utf8_is_refused(tmp_path):
    s1, _eps = _kexeced(tmp_path)
    bad = _with_report_note(s1, tmp_path / "latin1.elf",
                            zlib.compress(b'{"kind":"enumerate","name":"\xe9t\xe9"}'))
    res = run(["enumerate", bad, "--json"], exit_code=3)
    assert "PCILU report note" in res.stderr and "not UTF-8" in res.stderr


STEP = 1 << 20      # the stored document is checked, then written, one inflated step at a time


def _long_document(at: int, char: bytes) -> bytes:
    """An enumerate document a little longer than one step (what the small fabric's bound
    allows) with ``char`` at byte ``at``."""
    head = b'{"kind":"enumerate","devices":[],"pad":"'
    body = bytearray(b"x" * (STEP + 2000))
    body[at - len(head):at - len(head) + len(char)] = char
    return head + bytes(body) + b'"}'


def test_a_character_cut_between_two_steps_is_written_out_whole(tmp_path):
    s1, _eps = _kexeced(tmp_path)
    doc = _long_document(STEP - 1, "\u00e9".encode())          # its two bytes straddle a step
    odd = _with_report_note(s1, tmp_path / "long.elf", zlib.compress(doc))
    assert run(["enumerate", odd, "--json"]).stdout == doc.decode() + "\n"


def test_a_long_document_is_checked_whole_before_a_byte_of_it_is_printed(tmp_path):
    """A bad byte in the second step: refused naming its offset, and stdout holds only the
    error document (nothing of the stored one was written first)."""
    s1, _eps = _kexeced(tmp_path)
    doc = _long_document(STEP + 17, b"\xff")
    bad = _with_report_note(s1, tmp_path / "bad.elf", zlib.compress(doc))
    res = run(["enumerate", bad, "--json"], exit_code=3)
    assert f"not UTF-8 text (byte {STEP + 17})" in res.stderr
    assert res.json()["kind"] == "error"


def test_a_stored_document_reaches_a_text_only_stdout_whole(monkeypatch):
    """An embedding caller's stdout may have no binary layer beneath it: the pieces are
    decoded as they come, a character cut between two pieces included."""
    import io
    import sys

    from pcilu_cli.cli import context
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    doc = '{"kind":"enumerate","name":"\u00e9t\u00e9"}'.encode()
    cut = doc.index("\u00e9".encode()) + 1                  # inside the first é
    context.print_json_pieces([doc[:cut], doc[cut:]])
    assert out.getvalue() == doc.decode() + "\n"


def test_the_checked_pieces_are_kept_only_while_the_budget_has_room_for_them():
    """The check inflates the document once; its pieces are handed out as they are when the
    file's budget can keep them (and drawn from it), else the document is inflated again as
    it is written. Either way the bytes are the document's."""
    from pcilu_cli.abi.untrusted import InflateBudget
    from pcilu_cli.state import report_note
    doc = _long_document(STEP + 5, b"y")
    raw = zlib.compress(doc)
    roomy = InflateBudget(len(doc))                       # room for the whole document
    before = roomy.left
    kept = report_note.decode_pieces(raw, 4096, 0, budget=roomy)
    assert isinstance(kept, list) and len(kept) == 2 and b"".join(kept) == doc
    assert roomy.left == before - len(doc)
    tight = InflateBudget(len(raw))
    tight.left = len(doc) - 1                             # one byte too little to keep it
    again = report_note.decode_pieces(raw, 4096, 0, budget=tight)
    assert not isinstance(again, list) and b"".join(again) == doc
    assert tight.left == len(doc) - 1


def _zstd(doc: bytes) -> bytes:
    from pcilu_cli.abi.zstd_frame import compressor
    z = compressor()
    return z.compress(doc) + z.flush()


def test_kexec_writes_the_document_as_one_zstd_frame_and_a_zlib_one_still_reads(tmp_path):
    from pcilu_cli.abi.zstd_frame import MAGIC, frame_length
    s1, _eps = _kexeced(tmp_path)
    raw = bytes(_notes(s1)[elfcore.NT_PCILU_REPORT])
    assert raw[:4] == MAGIC and frame_length(raw) == len(raw)
    printed = run(["enumerate", s1, "--json"]).stdout
    # the same document as an earlier pcilu wrote it (one zlib stream) prints the same bytes
    old = _with_report_note(s1, tmp_path / "old.elf", zlib.compress(printed[:-1].encode(), 1))
    assert run(["enumerate", old, "--json"]).stdout == printed


def test_a_zstd_report_note_cut_short_followed_by_bytes_or_a_bomb_is_refused(tmp_path):
    s1, _eps = _kexeced(tmp_path)
    raw = bytes(_notes(s1)[elfcore.NT_PCILU_REPORT])
    bomb = _zstd(b'{"kind":"enumerate",' + b" " * (96 << 20) + b"}")
    for name, bad_raw, says in [("cut", raw[:len(raw) // 2], "cut short"),
                                ("tail", raw + b"\0\0", "followed by 2 bytes"),
                                ("bomb", bomb, "more than"),
                                ("other", _zstd(b'{"kind":"error"}'), "not one")]:
        bad = _with_report_note(s1, tmp_path / f"{name}.elf", bad_raw)
        res = run(["enumerate", bad, "--json"], exit_code=3)
        assert "PCILU report note" in res.stderr and says in res.stderr, (name, res.stderr)
        assert res.stdout.startswith('{"kind":"error"'), name      # nothing of it printed
