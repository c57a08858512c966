# SPDX-License-Identifier: GPL-2.0-only
"""State-file storage under concurrency and crashes, with real processes (issue 8, part 2/3).

Scenarios: 16 pcilu-like processes doing locked read-modify-write on one file must all land;
a writer killed with SIGKILL at random instants must never leave a partial file; a busy lock
gives up with StateLocked after --wait; version mismatches are refused with a clear message.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import stat
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcilu_cli.errors import BadInput, ExitCode, StateLocked
from pcilu_cli.state import store as store_mod
from pcilu_cli.state.store import (FORMAT_VERSION, READABLE_FORMATS, StateStore, atomic_write,
                                   check_versions, read_input)

REPO = Path(__file__).resolve().parents[1]


def _temporaries(directory: Path, name: str) -> list[str]:
    return sorted(n for n in os.listdir(directory)
                  if n.startswith(f".{name}.") and n.endswith(store_mod.TMP_SUFFIX))


def _python(code: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# ---- 16 concurrent read-modify-write processes ---------------------------------------------

INCREMENT = """
    import json, sys, time
    from pcilu_cli.state.store import StateStore
    path, me, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    st = StateStore(path, wait=60)
    for _ in range(rounds):
        with st.transaction() as tx:
            doc = json.loads(tx.read())
            time.sleep(0.002)          # widen the read-modify-write window
            doc["count"] += 1
            doc["by"].append(me)
            tx.write(json.dumps(doc).encode())
"""


def test_sixteen_processes_read_modify_write_all_land(tmp_path):
    state = tmp_path / "STATE"
    state.write_bytes(json.dumps({"count": 0, "by": []}).encode())
    rounds = 4
    procs = [_python(INCREMENT, str(state), f"p{i}", str(rounds)) for i in range(16)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    doc = json.loads(state.read_bytes())
    assert doc["count"] == 16 * rounds
    assert sorted(set(doc["by"])) == sorted(f"p{i}" for i in range(16))
    assert all(doc["by"].count(f"p{i}") == rounds for i in range(16))
    # the sidecar survives and is the only extra file; nothing temporary is left
    assert sorted(os.listdir(tmp_path)) == ["STATE", "STATE.lock"]


# ---- kill -9 at random points during large writes ------------------------------------------

MAGIC = b"PCILUTST"
HEADER = struct.Struct("<8sQQ32s")   # magic, sequence, body length, sha256(body)


def _payload(seq: int, size: int) -> bytes:
    body = random.Random(seq).randbytes(size)
    return HEADER.pack(MAGIC, seq, size, hashlib.sha256(body).digest()) + body


def _parse_payload(data: bytes) -> int:
    """Return the sequence number; AssertionError if the file is partial or mixed."""
    assert len(data) >= HEADER.size, f"file is {len(data)} bytes: partial header"
    magic, seq, size, digest = HEADER.unpack_from(data)
    assert magic == MAGIC
    body = data[HEADER.size:]
    assert len(body) == size, f"seq {seq}: body {len(body)} bytes, header says {size}"
    assert hashlib.sha256(body).digest() == digest, f"seq {seq}: body does not match its hash"
    return seq


WRITER = """
    import hashlib, random, struct, sys
    from pcilu_cli.state.store import StateStore
    path, size = sys.argv[1], int(sys.argv[2])
    H = struct.Struct("<8sQQ32s")
    st = StateStore(path, wait=30)
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    while True:
        with st.transaction() as tx:
            seq = H.unpack_from(tx.read())[1] + 1
            body = random.Random(seq).randbytes(size)
            tx.write(H.pack(b"PCILUTST", seq, size, hashlib.sha256(body).digest()) + body)
"""


def test_kill9_mid_write_never_leaves_a_partial_file(tmp_path):
    state = tmp_path / "STATE"
    size = 3 << 20
    state.write_bytes(_payload(0, size))
    rng = random.Random(8)
    last = 0
    progressed = 0
    for _ in range(10):
        p = _python(WRITER, str(state), str(size))
        assert p.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        p.stdout.close()
        p.stderr.close()
        seq = _parse_payload(state.read_bytes())
        assert seq >= last, "an older state came back"
        progressed += seq > last
        last = seq
        # at most the killed writer's own temporary is left behind
        assert len(_temporaries(tmp_path, "STATE")) <= 1
    assert progressed, "the writer never completed a write: the test exercised nothing"
    # the next write removes the dead writer's temporary
    with StateStore(state, wait=5).transaction() as tx:
        tx.write(_payload(last + 1, 16))
    assert _temporaries(tmp_path, "STATE") == []
    assert _parse_payload(state.read_bytes()) == last + 1


# ---- lock behaviour --------------------------------------------------------------------------

def test_busy_lock_gives_up_after_wait_with_state_locked(tmp_path):
    state = tmp_path / "S"
    state.write_bytes(b"old")
    holder = StateStore(state, wait=0)
    with holder.transaction():
        t0 = time.monotonic()
        with pytest.raises(StateLocked) as ei:
            with StateStore(state, wait=0.3).transaction() as tx:
                tx.write(b"new")
        waited = time.monotonic() - t0
    assert 0.25 <= waited < 5
    assert "locked by another pcilu process" in str(ei.value) and "0.3 s" in str(ei.value)
    assert state.read_bytes() == b"old"
    # once released, a waiter gets it
    with StateStore(state, wait=0).transaction() as tx:
        tx.write(b"new")
    assert state.read_bytes() == b"new"


def test_lock_held_by_another_process_blocks_until_released(tmp_path):
    state = tmp_path / "S"
    state.write_bytes(b"0")
    holder = _python("""
        import sys, time
        from pcilu_cli.state.store import StateStore
        with StateStore(sys.argv[1]).transaction() as tx:
            sys.stdout.write("locked\\n"); sys.stdout.flush()
            time.sleep(0.6)
            tx.write(b"1")
    """, str(state))
    assert holder.stdout.readline() == b"locked\n"
    with pytest.raises(StateLocked):
        with StateStore(state, wait=0).transaction():
            pass
    with StateStore(state, wait=10).transaction() as tx:
        assert tx.read() == b"1"      # saw the holder's committed write, not the stale inode
        tx.write(b"2")
    holder.communicate(timeout=30)
    assert holder.returncode == 0
    assert state.read_bytes() == b"2"


def test_failed_transaction_keeps_old_content_and_leaves_nothing(tmp_path):
    state = tmp_path / "S"
    state.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with StateStore(state).transaction() as tx:
            tx.write(b"new")
            raise RuntimeError("command failed after staging")
    assert state.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["S", "S.lock"]


def test_transaction_without_write_does_not_touch_the_file(tmp_path):
    state = tmp_path / "S"
    state.write_bytes(b"same")
    ino = state.stat().st_ino
    with StateStore(state).transaction() as tx:
        assert tx.read() == b"same"
    assert state.stat().st_ino == ino


def test_a_save_written_as_pieces_is_their_concatenation(tmp_path):
    """A state is saved as the pieces it is made of (notes and memory not copied into one
    buffer first): they land in order, memoryviews of the file just read included."""
    state = tmp_path / "S"
    state.write_bytes(b"old content")
    with StateStore(state).transaction() as tx:
        old = tx.read()
        tx.write([b"new ", memoryview(old)[4:], b"", bytes(3)])
    assert state.read_bytes() == b"new content" + bytes(3)
    assert sorted(os.listdir(tmp_path)) == ["S", "S.lock"]


def test_write_keeps_permission_bits_of_the_state_file(tmp_path):
    state = tmp_path / "S"
    state.write_bytes(b"x")
    state.chmod(0o640)
    with StateStore(state).transaction() as tx:
        tx.write(b"y")
    assert stat.S_IMODE(state.stat().st_mode) == 0o640


def test_missing_state_file_is_bad_input_naming_it(tmp_path):
    state = tmp_path / "nope"
    with pytest.raises(BadInput) as ei:
        with StateStore(state).transaction() as tx:
            tx.read()
    assert ei.value.exit_code == ExitCode.BAD_INPUT
    assert str(state) in str(ei.value)


def test_stale_temporary_of_a_live_process_is_kept(tmp_path):
    state = tmp_path / "S"
    state.write_bytes(b"x")
    live = tmp_path / f".S.{os.getppid()}.abc{store_mod.TMP_SUFFIX}"
    dead_pid = _dead_pid()
    dead = tmp_path / f".S.{dead_pid}.abc{store_mod.TMP_SUFFIX}"
    other = tmp_path / f".T.{dead_pid}.abc{store_mod.TMP_SUFFIX}"
    for f in (live, dead, other):
        f.write_bytes(b"partial")
    with StateStore(state).transaction() as tx:
        tx.write(b"y")
    assert live.exists() and other.exists() and not dead.exists()


def test_stale_temporaries_removed_are_named_as_paths_beside_the_state(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dead = f".S.{_dead_pid()}.abc{store_mod.TMP_SUFFIX}"
    Path(dead).write_bytes(b"partial")
    assert store_mod.clean_stale_temporaries("./S") == [Path(dead)]
    assert not Path(dead).exists()


@settings(max_examples=300)
@given(st.lists(st.sampled_from(["", "/", "//", "///", ".", "..", "a", "b.state", " ", "\\",
                                 "é"]), max_size=8).map("".join)
       | st.text(alphabet="/.ab", max_size=12))
def test_a_path_is_spelled_as_pathlib_spells_it(spelling):
    """Messages name a state file as ``str(Path(...))`` did before the store stopped
    importing pathlib (every kernel command's start): same normalisation, without it."""
    assert store_mod._path(spelling) == str(Path(spelling))
    assert store_mod._path(Path(spelling)) == str(Path(spelling))


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# ---- atomic_write / read_input ---------------------------------------------------------------

def test_atomic_write_creates_file_with_umask_mode(tmp_path):
    out = tmp_path / "NEXT"
    atomic_write(out, b"\x7fELF...")
    assert out.read_bytes() == b"\x7fELF..."
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["NEXT"]


def test_atomic_write_failure_removes_temporary_and_keeps_old(tmp_path, monkeypatch):
    out = tmp_path / "NEXT"
    out.write_bytes(b"old")

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(store_mod.os, "fsync", broken_fsync)
    with pytest.raises(BadInput) as ei:
        atomic_write(out, b"new")
    assert str(out) in str(ei.value) and "Input/output error" in str(ei.value)
    assert out.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["NEXT"]


def test_atomic_write_into_missing_directory_is_bad_input(tmp_path):
    with pytest.raises(BadInput) as ei:
        atomic_write(tmp_path / "no" / "such" / "NEXT", b"x")
    assert "no/such" in str(ei.value)


def test_dash_means_stdout_and_stdin():
    code = textwrap.dedent("""
        from pcilu_cli.state.store import atomic_write, read_input
        atomic_write("-", read_input("-")[::-1])
    """)
    r = subprocess.run([sys.executable, "-c", code], input=b"\x00\x01abc\xff",
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"\xffcba\x01\x00"


def test_read_input_of_directory_or_missing_file_names_it(tmp_path):
    for bad in (tmp_path, tmp_path / "missing.bin"):
        with pytest.raises(BadInput) as ei:
            read_input(bad)
        assert str(bad) in str(ei.value)
        assert "\n" not in ei.value.one_line()


# ---- format versions ---------------------------------------------------------------------------

def test_current_format_is_accepted():
    assert check_versions(FORMAT_VERSION, "0.1.0", "S") is None


def test_format_2_is_still_read():
    # format 3 only adds the fabric note's version 2, and version 1 is still decoded
    assert FORMAT_VERSION == 3 and check_versions(2, "0.1.0", "old.elf") is None


def test_newer_format_says_upgrade_and_names_both_versions():
    with pytest.raises(BadInput) as ei:
        check_versions(FORMAT_VERSION + 1, "9.9.9", "gen1.elf")
    msg = str(ei.value)
    assert "gen1.elf" in msg and "pcilu 9.9.9" in msg
    assert f"state format {FORMAT_VERSION + 1}" in msg and "upgrade pcilu" in msg
    assert "pcilu init" not in msg


def test_older_format_says_recreate():
    with pytest.raises(BadInput) as ei:
        check_versions(min(READABLE_FORMATS) - 1, None, "old.elf")
    msg = str(ei.value)
    assert "re-create it with `pcilu init`" in msg and "unknown pcilu" in msg
    assert "upgrade" not in msg


@pytest.mark.parametrize("found", [None, "1", 1.0, True, -1.5])
def test_missing_or_garbage_format_is_refused(found):
    with pytest.raises(BadInput) as ei:
        check_versions(found, "0.1.0", "S")
    assert ei.value.exit_code == ExitCode.BAD_INPUT


# ---- 16 concurrent `pcilu preserve` ----------------------------------------------------------

FABRIC = REPO / "fixtures" / "fabrics" / "nvme-jbof.yaml"      # 16 NVMe endpoints


def _pcilu(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pcilu_cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def _preservable_endpoints(state: Path) -> list[str]:
    r = _pcilu("enumerate", str(state), "--json")
    assert r.returncode == 0, r.stderr
    devs = json.loads(r.stdout)["devices"]
    # endpoints only (bridges are auto-preserved as ancestors; VFs cannot be preserved)
    return [d["bdf"] for d in devs
            if str(d.get("kind", "")).lower() in ("endpoint", "pf", "ep")]


def _state_with_16_endpoints(tmp_path) -> tuple[Path, list[str]]:
    """`pcilu init` of nvme-jbof.yaml, which has 16 preservable endpoints."""
    state = tmp_path / "S"
    r = _pcilu("init", str(FABRIC), "-o", str(state))
    assert r.returncode == 0, r.stderr
    bdfs = _preservable_endpoints(state)
    assert len(bdfs) >= 16, f"{FABRIC.name} has {len(bdfs)} preservable endpoints"
    return state, bdfs[:16]


def test_sixteen_concurrent_pcilu_preserve_all_land(tmp_path):
    state, bdfs = _state_with_16_endpoints(tmp_path)
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-m", "pcilu_cli", "preserve", str(state), b],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for b in bdfs]
    for b, p in zip(bdfs, procs):
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, f"preserve {b}: {err.decode()}"
    r = _pcilu("enumerate", str(state), "--json")
    assert r.returncode == 0, r.stderr
    outgoing = {d["bdf"] for d in json.loads(r.stdout)["devices"] if d.get("outgoing")}
    missing = [b for b in bdfs if b not in outgoing]
    assert not missing, f"lost preserves: {missing}"
    assert _temporaries(tmp_path, "S") == []


# ---- outputs that are not plain new files ------------------------------------------------------

def test_atomic_write_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.elf"
    real.write_bytes(b"old")
    link = tmp_path / "current.elf"
    link.symlink_to(real.name)
    atomic_write(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


def test_state_store_through_a_symlink_shares_the_lock_of_the_real_file(tmp_path):
    real = tmp_path / "S"
    real.write_bytes(b"0")
    link = tmp_path / "L"
    link.symlink_to(real.name)
    with StateStore(real, wait=0).transaction():
        with pytest.raises(StateLocked):
            with StateStore(link, wait=0).transaction():
                pass
    with StateStore(link).transaction() as tx:
        tx.write(b"1")
    assert link.is_symlink() and real.read_bytes() == b"1"


def test_atomic_write_into_a_fifo_writes_into_it_instead_of_renaming_over_it(tmp_path):
    # the same path is taken for /dev/null and /dev/stdout: a rename over a device node, as
    # root, would turn /dev/null into a regular file
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen([sys.executable, "-c",
                               "import sys; sys.stdout.buffer.write(open(sys.argv[1],'rb').read())",
                               str(fifo)], stdout=subprocess.PIPE)
    atomic_write(fifo, b"through the pipe")
    out, _ = reader.communicate(timeout=30)
    assert out == b"through the pipe"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["pipe"]


def test_state_store_refuses_a_state_that_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "S"
    os.mkfifo(fifo)
    with pytest.raises(BadInput) as ei:
        with StateStore(fifo).transaction() as tx:
            tx.write(b"x")
    assert "regular file" in str(ei.value)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_read_input_refuses_an_endless_stream(tmp_path):
    with pytest.raises(BadInput) as ei:
        read_input("/dev/zero", limit=1 << 20)
    assert "/dev/zero" in str(ei.value) and "stream" in str(ei.value)
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(3 << 20))              # regular files are not limited
    assert len(read_input(big, limit=1 << 20)) == 3 << 20
