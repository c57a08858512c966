# SPDX-License-Identifier: GPL-2.0-only
"""A zlib stream cut short, or followed by other bytes, is refused in every format that holds one.

A file copied from another machine may have been cut off in transit (a full disk, a killed
``scp``). Every zlib stream pcilu writes is the whole of its field: a serialized fabric after
its header (a ``.fab`` file, and a state file's fabric note), each section of a state file's
kernel note, the report note. A stream that stops before its end marker and checksum would
inflate to a prefix of what was written; a prefix is never what the other machine meant, so
the real CLI must end with one ``pcilu: error:`` line naming the file (and the note), exit 3.
"""
from __future__ import annotations

import functools
import struct
import subprocess
import sys
import zlib

import pytest

import pcilu
from pcilu_cli.memory import elfcore
from tests.conftest import ROOT
from tests.pcilu_run import child_env, run

QEMU = ROOT / "fixtures/fabrics/qemu-virtio-net.yaml"
NIC = "0000:01:00.0"
FAB_HEADER = 10                  # "PCILUFAB" + u16 version, then the zlib stream


# where a stream of n bytes is cut: nothing left, the 2-byte zlib header only, half way,
# without its Adler-32 checksum, one byte short
CUTS = {"empty": lambda n: 0, "zlib-header-only": lambda n: 2, "half": lambda n: n // 2,
        "no-checksum": lambda n: n - 4, "one-byte-short": lambda n: n - 1}


@functools.lru_cache(maxsize=None)
def _fab_bytes() -> bytes:
    return pcilu.load_fabric(QEMU).to_bytes()


@functools.lru_cache(maxsize=None)
def _kexeced_state() -> bytes:
    """A generation-1 state (it has a kernel note with an incoming side and a report note)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        g0, g1 = f"{d}/g0.elf", f"{d}/g1.elf"
        run(["init", QEMU, "-o", g0])
        run(["preserve", g0, NIC])
        run(["kexec", g0, "-o", g1])
        with open(g1, "rb") as f:
            return f.read()


def _notes(data: bytes) -> dict:
    _mem, notes = elfcore.read_elf_core(data)
    return {t: bytes(d) for n, t, d in notes if n == elfcore.NOTE_NAME}


def _with_note(data: bytes, ntype: int, raw: bytes) -> bytes:
    mem, notes = elfcore.read_elf_core(data)
    notes = [(n, t, raw if (n == elfcore.NOTE_NAME and t == ntype) else bytes(d))
             for n, t, d in notes]
    return elfcore.write_elf_core(mem, notes)


def _kernel_sections(note: bytes):
    """(header, [section bytes]) of a PCILUKN2 kernel note (magic, chunk rows, devices, chunks,
    then one u32 length per section: head, buses, keys, chunk 0 ...)."""
    magic, rows, ndev, nchunks = struct.unpack_from("<8sIII", note, 0)
    assert magic == b"PCILUKN2"
    nsec = 3 + nchunks
    lens = struct.unpack_from(f"<{nsec}I", note, 20)
    pos, secs = 20 + 4 * nsec, []
    for n in lens:
        secs.append(note[pos:pos + n])
        pos += n
    assert pos == len(note)
    return note[:20], secs


def _kernel_note_with(note: bytes, i: int, section: bytes) -> bytes:
    """``note`` with section ``i`` replaced (its length field follows: the container stays
    consistent, only the zlib stream inside is damaged)."""
    head, secs = _kernel_sections(note)
    secs[i] = section
    return head + struct.pack(f"<{len(secs)}I", *map(len, secs)) + b"".join(secs)


def _refused(argv, path, *words):
    res = run([a if a != "{file}" else path for a in argv], exit_code=3)
    assert str(path) in res.stderr, res.stderr
    for w in words:
        assert w in res.stderr, res.stderr
    return res


def test_the_unchanged_files_load():
    """The files the damaged ones are made from are fine as they are (the baseline)."""
    assert len(pcilu.from_bytes(_kexeced_state()).fabric) > 0
    assert _fab_bytes()[:8] == b"PCILUFAB"


@pytest.mark.parametrize("cut", CUTS)
def test_a_serialized_fabric_cut_short_is_refused(cut, tmp_path):
    data = _fab_bytes()
    p = tmp_path / "cut.fab"
    p.write_bytes(data[:FAB_HEADER + CUTS[cut](len(data) - FAB_HEADER)])
    _refused(["fabric", "show", "{file}", "--json"], p)


@pytest.mark.parametrize("tail", [b"\0", b"garbage after the stream" * 3,
                                  zlib.compress(b"a second stream")])
def test_a_serialized_fabric_followed_by_other_bytes_is_refused(tail, tmp_path):
    p = tmp_path / "tail.fab"
    p.write_bytes(_fab_bytes() + tail)
    _refused(["fabric", "show", "{file}", "--json"], p, "after the end")


def test_init_from_a_cut_serialized_fabric_writes_no_state(tmp_path):
    p = tmp_path / "cut.fab"
    data = _fab_bytes()
    p.write_bytes(data[:len(data) - 4])
    _refused(["init", "{file}", "-o", tmp_path / "s.elf"], p, "cut short")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["cut.fab"]


@pytest.mark.parametrize("cut", CUTS)
def test_a_state_whose_fabric_note_is_cut_short_is_refused(cut, tmp_path):
    fab = _notes(_kexeced_state())[elfcore.NT_PCILU_FABRIC]
    cut_fab = fab[:FAB_HEADER + CUTS[cut](len(fab) - FAB_HEADER)]
    p = tmp_path / "g1.elf"
    p.write_bytes(_with_note(_kexeced_state(), elfcore.NT_PCILU_FABRIC, cut_fab))
    _refused(["inspect", "{file}", "--json"], p, "PCILU fabric note")


def test_a_state_whose_fabric_note_has_bytes_after_its_stream_is_refused(tmp_path):
    fab = _notes(_kexeced_state())[elfcore.NT_PCILU_FABRIC]
    p = tmp_path / "g1.elf"
    p.write_bytes(_with_note(_kexeced_state(), elfcore.NT_PCILU_FABRIC, fab + b"\0\0\0\0"))
    _refused(["enumerate", "{file}", "--json"], p, "PCILU fabric note", "after the end")


SECTIONS = {"head": 0, "buses": 1, "keys": 2, "chunk-0": 3}


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("section", SECTIONS)
def test_a_kernel_note_section_cut_short_is_refused(section, cut, tmp_path):
    note = _notes(_kexeced_state())[elfcore.NT_PCILU_KERNEL]
    _head, secs = _kernel_sections(note)
    sec = secs[SECTIONS[section]]
    bad = _kernel_note_with(note, SECTIONS[section], sec[:CUTS[cut](len(sec))])
    p = tmp_path / "g1.elf"
    p.write_bytes(_with_note(_kexeced_state(), elfcore.NT_PCILU_KERNEL, bad))
    # a kexec reads every section (the chunks too); it writes no next generation
    _refused(["kexec", "{file}", "-o", tmp_path / "g2.elf"], p, "PCILU kernel note")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["g1.elf"]


@pytest.mark.parametrize("argv", [["inspect", "{file}", "--json"],
                                  ["enumerate", "{file}", "--json"],
                                  ["enumerate", "{file}"]],
                         ids=["inspect-json", "enumerate-json", "enumerate-text"])
def test_a_device_chunk_cut_short_is_refused_by_commands_that_build_no_device(argv, tmp_path):
    """Device chunks are inflated when a device is first built; `inspect` and the stored
    document of `enumerate --json` build none, and still refuse the damaged file, as the
    text `enumerate` (which builds them) does — one file, one verdict."""
    note = _notes(_kexeced_state())[elfcore.NT_PCILU_KERNEL]
    _head, secs = _kernel_sections(note)
    sec = secs[SECTIONS["chunk-0"]]
    bad = _kernel_note_with(note, SECTIONS["chunk-0"], sec[:len(sec) // 2])
    p = tmp_path / "g1.elf"
    p.write_bytes(_with_note(_kexeced_state(), elfcore.NT_PCILU_KERNEL, bad))
    _refused(argv, p, "PCILU kernel note", "cut short")


def test_a_kernel_note_section_with_bytes_after_its_stream_is_refused(tmp_path):
    note = _notes(_kexeced_state())[elfcore.NT_PCILU_KERNEL]
    _head, secs = _kernel_sections(note)
    bad = _kernel_note_with(note, 0, secs[0] + b"\x78")
    p = tmp_path / "g1.elf"
    p.write_bytes(_with_note(_kexeced_state(), elfcore.NT_PCILU_KERNEL, bad))
    _refused(["inspect", "{file}", "--json"], p, "PCILU kernel note", "after the end")


@pytest.mark.parametrize("cut", CUTS)
def test_a_report_note_cut_short_at_any_point_is_refused(cut, tmp_path):
    rep = _notes(_kexeced_state())[elfcore.NT_PCILU_REPORT]
    p = tmp_path / "g1.elf"
    p.write_bytes(_with_note(_kexeced_state(), elfcore.NT_PCILU_REPORT,
                             rep[:CUTS[cut](len(rep))]))
    _refused(["enumerate", "{file}", "--json"], p, "PCILU report note")


def test_the_process_itself_exits_3_with_one_line(tmp_path):
    """Outside the in-process runner: the installed entry point, its real exit status."""
    p = tmp_path / "cut.fab"
    data = _fab_bytes()
    p.write_bytes(data[:len(data) // 2])
    r = subprocess.run([sys.executable, "-m", "pcilu_cli", "fabric", "show", str(p)],
                       capture_output=True, text=True, env=child_env(), cwd=tmp_path,
                       timeout=120)
    assert r.returncode == 3, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pcilu: error:") and str(p) in lines[0]
    assert "Traceback" not in r.stderr + r.stdout
