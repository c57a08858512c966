# SPDX-License-Identifier: GPL-2.0-only
"""A save's longest piece computed by a forked child (state/forked.py): the parent gets the
child's bytes when the child sent them all, computes the piece itself when anything went
wrong, and never leaves a child behind; `pcilu kexec` writes the same file either way."""
import os
import subprocess
import sys
import threading
import time

import pytest
from pcilu_run import ROOT, child_env, run

from pcilu_cli.cli.context import json_text
from pcilu_cli.state import forked, load

FABRIC = ROOT / "fixtures" / "fabrics" / "qemu-virtio-net.yaml"


@pytest.fixture
def always_fork(monkeypatch):
    monkeypatch.setattr(forked, "MIN_DEVICES", 0)


def _pid_bytes(n=0):
    """Who computed it, padded to ``n`` bytes (past a pipe's buffer when n is large)."""
    return str(os.getpid()).encode().ljust(n, b".")


def test_a_large_piece_is_computed_by_a_child_and_arrives_whole(always_fork):
    pending = forked.start(lambda: _pid_bytes(3 << 20), devices=1)
    assert pending.forked
    data = pending.result()
    assert len(data) == 3 << 20
    assert int(data.rstrip(b".")) != os.getpid()          # not computed here


def test_a_small_generation_is_not_worth_a_fork():
    pending = forked.start(_pid_bytes, devices=forked.MIN_DEVICES - 1)
    assert not pending.forked
    assert pending.result() == _pid_bytes()


def test_a_child_that_fails_is_replaced_by_the_parent_computing_the_piece(always_fork):
    parent = os.getpid()

    def fails_in_the_child():
        if os.getpid() != parent:
            raise RuntimeError("child only")
        return _pid_bytes()
    assert forked.start(fails_in_the_child, devices=1).result() == _pid_bytes()


def test_a_child_that_dies_before_sending_everything_is_not_believed(always_fork):
    parent = os.getpid()

    def dies_half_way():
        if os.getpid() != parent:
            os._exit(0)                      # exit status 0, but no byte count was sent
        return b"from the parent"
    assert forked.start(dies_half_way, devices=1).result() == b"from the parent"


def test_a_child_no_longer_wanted_is_killed_and_reaped(always_fork):
    pending = forked.start(lambda: time.sleep(60) or b"", devices=1)
    pid = pending._pid
    t0 = time.monotonic()
    pending.close()
    assert time.monotonic() - t0 < 10
    with pytest.raises(ChildProcessError):              # reaped: no zombie left
        os.waitpid(pid, os.WNOHANG)


def test_no_fork_while_other_threads_run(always_fork):
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        pending = forked.start(_pid_bytes, devices=1)
        assert not pending.forked
        assert pending.result() == _pid_bytes()
    finally:
        stop.set()
        t.join()


def test_a_state_with_its_document_is_the_same_bytes_forked_or_not(tmp_path, monkeypatch):
    s0 = tmp_path / "gen0.state"
    run(["init", FABRIC, "-o", s0])
    monkeypatch.setattr(forked, "MIN_DEVICES", 0)
    forked_bytes = load(str(s0)).kexec().to_bytes(report_json=json_text)
    monkeypatch.setattr(forked, "MIN_DEVICES", 1 << 62)
    assert load(str(s0)).kexec().to_bytes(report_json=json_text) == forked_bytes


def test_pcilu_kexec_writes_the_same_file_when_the_document_is_rendered_by_a_child(tmp_path):
    s0, plain, viafork = (tmp_path / n for n in ("gen0.state", "plain.state", "fork.state"))
    run(["init", FABRIC, "-o", s0])
    run(["kexec", s0, "-o", plain])
    # a fresh process, as a user runs it, with every generation worth a fork; what it
    # printed before the fork is printed once
    code = ("import sys\nfrom pcilu_cli.state import forked\nforked.MIN_DEVICES = 0\n"
            "print('before', end='')\nfrom pcilu_cli.cli import main\n"
            f"sys.argv = ['pcilu', 'kexec', {str(s0)!r}, '-o', {str(viafork)!r}]\nmain()\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=child_env(), cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("before") == 1
    assert viafork.read_bytes() == plain.read_bytes()
