# SPDX-License-Identifier: GPL-2.0-only
"""One piece of a save computed by a forked child while the parent computes the others.

``pcilu kexec`` saves the generation it booted with the enumerate document of that boot
(state/report_note.py: building and rendering it takes ~0.5 s at 65,536 functions) and its
kernel and fabric notes (~0.3 s more). None of these reads what another writes, and the
machines this runs on have two cores: :func:`start` forks a child that computes one piece
(a function returning bytes) and sends the bytes back through a pipe, while the parent goes
on with the rest; :meth:`Pending.result` collects them.

* **Same bytes either way.** The child works on a copy-on-write snapshot of the parent's
  memory at the fork: nothing the parent does afterwards can race with it, and what it sends
  is exactly what the parent would have computed at that point (tests hold the two equal).
* **Any failure falls back.** No ``os.fork`` (other platforms), a fork that fails, other
  threads running (forking a threaded process is unsafe), a child that raises, is killed or
  sends short data: the parent computes the piece itself, so an exception surfaces in the
  parent, where the CLI turns it into its message and exit code.
* **The child leaves no trace.** It ends with ``os._exit``: no ``finally`` blocks, ``atexit``
  handlers or stdio buffers of the parent's run in it (no lock released, no temporary file
  removed, nothing printed twice). A parent that stops early (an error, Ctrl-C) kills and
  reaps it (:meth:`Pending.close`).
"""
from __future__ import annotations

import os
import sys

# the smallest generation worth a fork (a fork and the copy-on-write faults that follow cost
# a few ms; below this the piece itself takes less)
MIN_DEVICES = 8192


def _threads_running() -> bool:
    threading = sys.modules.get("threading")       # (never imported: no Python threads)
    return threading is not None and threading.active_count() > 1


class Pending:
    """A piece being computed: by a child (``pid``), or by the parent on :meth:`result`."""

    def __init__(self, fn, pid: int | None = None, fd: int | None = None):
        self._fn, self._pid, self._fd = fn, pid, fd

    @property
    def forked(self) -> bool:
        return self._pid is not None

    def result(self) -> bytes:
        """The piece: the child's bytes when it sent them all and exited 0, else ``fn()``
        computed here."""
        data = self._collect()
        return self._fn() if data is None else data

    def _collect(self) -> bytes | None:
        if self._pid is None:
            return None
        try:
            with os.fdopen(self._fd, "rb") as f:
                self._fd = None
                data = f.read()                  # to the end: the child has closed its side
        except OSError:
            data = None
        pid, self._pid = self._pid, None
        try:
            _pid, status = os.waitpid(pid, 0)
        except ChildProcessError:            # reaped by someone else: its status is unknown
            return None
        if data is None or not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            return None
        # the child writes its byte count last (8 bytes, little-endian): short data is not
        # taken for the piece
        if len(data) < 8 or int.from_bytes(data[-8:], "little") != len(data) - 8:
            return None
        return data[:-8]

    def close(self) -> None:
        """Stop a child whose result is no longer wanted (the parent stops early)."""
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
        if self._pid is not None:
            import signal
            pid, self._pid = self._pid, None
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def start(fn, *, devices: int) -> Pending:
    """``fn()`` (returning bytes) in a forked child, when ``devices`` (the size of what it
    walks) is worth a fork and forking is safe here; otherwise a :class:`Pending` that runs
    ``fn`` in the parent when its result is asked for."""
    if devices < MIN_DEVICES or not hasattr(os, "fork") or _threads_running():
        return Pending(fn)
    try:
        r, w = os.pipe()
    except OSError:
        return Pending(fn)
    for stream in (sys.stdout, sys.stderr):    # nothing buffered is written twice
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return Pending(fn)
    if pid == 0:                                               # pragma: no cover - the child
        code = 1
        try:
            os.close(r)
            data = fn()
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
            os.write(w, len(data).to_bytes(8, "little"))
            code = 0
        except BaseException:      # noqa: BLE001 - the parent computes it again and reports
            pass
        finally:
            os._exit(code)
    os.close(w)
    return Pending(fn, pid, r)
