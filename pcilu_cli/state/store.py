# SPDX-License-Identifier: GPL-2.0-only
"""Crash-safe, concurrency-safe storage of one state file (the bytes; the format is
``state/machine.py``'s).

What it models: the guarantees a CI job needs when many ``pcilu preserve`` runs edit one
generation's state file at once, and when any of them may be killed:

* **Atomic replace.** New content goes to a temporary file in the *same directory* (so that
  ``os.replace`` is a rename within one filesystem), is flushed and fsync'd, renamed over the
  state file, and then the directory is fsync'd so that the rename itself is durable. A reader
  (or a process killed at any instant) therefore sees either the old bytes or the new bytes.
* **Sidecar lock.** Read-modify-write cycles are serialised by an exclusive ``flock`` on
  ``STATE.lock``, a file that is never replaced and never deleted. Locking the state file itself
  does not work: ``os.replace`` puts a new inode under the name, so a waiter that opened the old
  inode gets the lock on an orphan and re-reads stale data (measured in conventions §4.6: 122 of
  400 increments survived). The lock file is opened ``a+`` because over NFS ``flock`` is emulated
  with ``fcntl`` locks, which need a descriptor open for writing.
* **Version check.** :func:`check_versions` turns a state file written by another pcilu into a
  clear message instead of a misread.

Temporary files are named ``.<state name>.<pid>.<random>.pcilu-tmp``. A process killed with
SIGKILL between ``mkstemp`` and ``os.replace`` leaves exactly one such file behind; the next
writer of the same state file removes temporaries whose pid is no longer alive (choice: pid
liveness rather than age, so a leftover disappears at the next write, and a concurrent unlocked
:func:`atomic_write` of a live process is never touched).

Only the standard library is imported here: every mutating command pays for this module.
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat
import sys
import time
from contextlib import contextmanager

from pcilu_cli.errors import BadInput, StateLocked

# 2: the kernel note is sectioned (device rows in binary chunks, read on demand) and the
#    outgoing struct pci_ser is kept only in the memory image (state/kernel_note.py).
# 3: the fabric note may be PCILUFAB version 2 (the uids in a binary column,
#    fabric/uid_column.py), which a pcilu that reads format 2 only cannot decode; so that
#    such a pcilu says "upgrade" instead of failing inside the note, the format says so.
FORMAT_VERSION = 3
# Formats this pcilu can read: format 2 is format 3 with a version-1 fabric note, which this
# pcilu still decodes. An older file is refused with "re-create it" rather than guessed at.
READABLE_FORMATS = frozenset({2, FORMAT_VERSION})

LOCK_SUFFIX = ".lock"
TMP_SUFFIX = ".pcilu-tmp"
_POLL_SECONDS = 0.02


def _tmp_prefix(path: str) -> str:
    return f".{os.path.basename(path)}."


def _parent(path: str) -> str:
    return os.path.dirname(path) or "."


def _fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable. Some filesystems refuse fsync on a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_stale_temporaries(path: str | os.PathLike) -> list:
    """Remove temporaries of ``path`` left by writers that no longer run; return what was
    removed (``pathlib.Path`` objects)."""
    path = _path(path)
    removed = []
    prefix = _tmp_prefix(path)
    directory = _parent(path)
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(TMP_SUFFIX)):
            continue
        middle = name[len(prefix):-len(TMP_SUFFIX)]
        pid_text = middle.split(".", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:
            continue
        from pathlib import Path        # (only here: the kernel commands never import it)
        removed.append(Path(directory, name))
    return removed


def _path(path) -> str:
    """``str(Path(path))`` without importing :mod:`pathlib` (~4 ms of every kernel command's
    start): the same spelling in messages — repeated slashes and ``.`` parts dropped, no
    trailing slash."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        return "."
    lead = "//" if path.startswith("//") and not path.startswith("///") else \
        "/" if path.startswith("/") else ""
    parts = [p for p in path.split("/") if p and p != "."]
    return lead + "/".join(parts) if parts else (lead or ".")


def _mkstemp(directory: str, prefix: str, suffix: str) -> tuple[int, str]:
    """``tempfile.mkstemp(suffix, prefix, directory)``: a new file of a random name, created
    exclusively (``O_EXCL``, no symlink followed) with mode 0600, open for writing. Written
    out because importing :mod:`tempfile` (shutil, random, bz2, lzma) cost every mutating
    command ~10 ms."""
    flags = (os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    for _attempt in range(100):
        name = os.path.join(directory, f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(directory))


def _write_replace(path: str, data: bytes, mode: int | None) -> None:
    """temp file in the same directory → write → flush → fsync → os.replace → fsync(dir)."""
    directory = _parent(path)
    try:
        fd, tmp = _mkstemp(directory, f"{_tmp_prefix(path)}{os.getpid()}.", TMP_SUFFIX)
    except OSError as e:
        raise BadInput(f"cannot create a file in {directory}: {e.strerror}", file=path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            else:                       # an iterable of chunks, written as they come
                for chunk in data:
                    f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException as e:  # also KeyboardInterrupt: never leave our temporary behind
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise BadInput(f"cannot write: {e.strerror or e}", file=path) from None
        raise
    _fsync_dir(directory)


def atomic_write(path: str | os.PathLike, data) -> None:
    """Write a (new) output file atomically; ``"-"`` writes the bytes to stdout.

    ``data`` is bytes, or an iterable of byte chunks written as they are produced (a large
    export never exists whole in memory; a failure mid-way leaves no partial file).

    For ``-o`` outputs: no lock (nobody else edits a file that is being created), but a reader
    or a crash never sees half of it. An existing file keeps its permission bits; a symlink is
    followed (the file it names is replaced, the link stays); a device or FIFO (``/dev/null``,
    ``/dev/stdout``) is written into, never renamed over. On error the temporary is removed and
    :class:`BadInput` names the file.
    """
    chunks = not isinstance(data, (bytes, bytearray, memoryview))
    if str(path) == "-":
        out = getattr(sys.stdout, "buffer", None)
        for chunk in (data if chunks else (data,)):
            if out is None:  # a text-only stream (e.g. a test's StringIO)
                sys.stdout.write(bytes(chunk).decode("latin-1"))
            else:
                out.write(chunk)
        (sys.stdout if out is None else out).flush()
        return
    path = _real_target(_path(path))
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        # /dev/null, /dev/stdout, a FIFO: renaming over it would replace the device node
        # itself (as root, /dev/null would become a regular file), so write into it instead
        try:
            with open(path, "wb") as f:
                for chunk in (data if chunks else (data,)):
                    f.write(chunk)
        except OSError as e:
            raise BadInput(f"cannot write: {e.strerror or e}", file=path) from None
        return
    _write_replace(path, data if chunks else bytes(data),
                   None if st is None else st.st_mode & 0o7777)


def _real_target(path: str) -> str:
    """Follow symlinks: os.replace on a link would replace the link, not the file it names."""
    return os.path.realpath(path) if os.path.islink(path) else path


# A stream (stdin, a FIFO, /dev/zero) has no size to check up front; stop reading it here
# rather than let `pcilu inspect /dev/zero` eat all memory. Regular files are read whole.
STREAM_LIMIT = 1 << 30


def read_input(path: str | os.PathLike, *, limit: int = STREAM_LIMIT) -> bytes:
    """Read an input file whole; ``"-"`` reads stdin. Unreadable → :class:`BadInput` naming it.

    Streams (stdin, FIFOs, character devices) are refused beyond ``limit`` bytes.
    """
    if str(path) == "-":
        src = getattr(sys.stdin, "buffer", sys.stdin)
        return _read_stream(src, "<stdin>", limit)
    try:
        with open(path, "rb") as f:
            if stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return f.read()
            return _read_stream(f, path, limit)
    except OSError as e:
        raise BadInput(f"cannot read: {e.strerror or e}", file=path) from None


def _read_stream(f, name, limit: int) -> bytes:
    chunks, total = [], 0
    while True:
        chunk = f.read(min(1 << 20, limit + 1 - total))
        if not chunk:
            break
        if isinstance(chunk, str):
            chunk = chunk.encode("latin-1")
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise BadInput(f"more than {limit} bytes from a stream; refusing to read on",
                           file=name)
    return b"".join(chunks)


def check_versions(found_format, found_pcilu, file) -> None:
    """Refuse a state file whose format this pcilu does not read, with a message that says why.

    ``found_format``/``found_pcilu`` are what the file records (``None`` if it records nothing).
    Newer format → "upgrade pcilu"; older format → "re-create it with `pcilu init`".
    """
    from pcilu_cli import __version__

    writer = f"pcilu {found_pcilu}" if found_pcilu else "an unknown pcilu"
    if isinstance(found_format, bool) or not isinstance(found_format, int):
        raise BadInput(f"no valid state format version recorded (found {found_format!r}); not "
                       "a pcilu state file, or a damaged one", file=file, field="format_version")
    if found_format in READABLE_FORMATS:
        return
    head = (f"written by {writer} with state format {found_format}; this pcilu "
            f"({__version__}) reads format {_formats_text()}")
    if found_format > max(READABLE_FORMATS):
        raise BadInput(f"{head} — upgrade pcilu", file=file, field="format_version")
    raise BadInput(f"{head} — re-create it with `pcilu init`", file=file,
                   field="format_version")


def _formats_text() -> str:
    return ", ".join(str(v) for v in sorted(READABLE_FORMATS))


class Transaction:
    """One locked read-modify-write of a state file; obtained from :meth:`StateStore.transaction`."""

    def __init__(self, path: str):
        self.path = path
        self._pending = None                # bytes or a list of pieces
        self._cache: bytes | None = None

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def read(self) -> bytes:
        """The current content (as of taking the lock). Missing → :class:`BadInput`."""
        if self._cache is None:
            self._cache = read_input(self.path)
        return self._cache

    def write(self, data) -> None:
        """Stage new content (bytes, or a list of byte pieces written one after the other); it
        replaces the file atomically when the transaction succeeds."""
        self._pending = list(data) if isinstance(data, list) else bytes(data)


class StateStore:
    """The state file at ``path`` and its sidecar lock ``path + ".lock"``.

    ``wait`` is how long :meth:`transaction` polls for the lock before giving up with
    :class:`StateLocked` (0 = try once). The lock is per open file description, so two
    transactions on one file nested in one process would wait for each other: don't nest.
    """

    def __init__(self, path: str | os.PathLike, *, wait: float = 30.0):
        self.path = _path(path)
        # beside the real file, so that two names (symlinks) of one state share one lock
        self.lock_path = os.path.realpath(self.path) + LOCK_SUFFIX
        self.wait = float(wait)

    def _lock(self):
        try:
            f = open(self.lock_path, "a+")
        except OSError as e:
            raise BadInput(f"cannot open the lock file: {e.strerror or e}",
                           file=self.lock_path) from None
        deadline = time.monotonic() + max(self.wait, 0.0)
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return f
            except BlockingIOError:
                pass
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    f.close()
                    raise BadInput(f"cannot lock: {e.strerror or e}", file=self.lock_path) \
                        from None
            now = time.monotonic()
            if now >= deadline:
                f.close()
                raise StateLocked(f"{self.path} is locked by another pcilu process "
                                  f"(waited {self.wait:g} s; lock file {self.lock_path})")
            time.sleep(min(_POLL_SECONDS, deadline - now))

    @contextmanager
    def transaction(self, *, must_exist: bool = False):
        """Hold the lock; yield a :class:`Transaction`; replace the file only on success.

        ``must_exist``: the state must already be a regular file — checked before the lock
        file is created, so a mistyped name leaves no ``.lock`` behind."""
        if must_exist:
            try:
                st = os.stat(self.path)
            except OSError as e:
                raise BadInput(f"cannot read: {e.strerror or e}", file=self.path) from None
            if not stat.S_ISREG(st.st_mode):
                raise BadInput("not a regular file (a state file is expected)", file=self.path)
        lock = self._lock()
        try:
            tx = Transaction(self.path)
            yield tx
            if tx._pending is not None:
                target = _real_target(self.path)
                clean_stale_temporaries(target)
                try:
                    st = os.stat(target)
                except OSError:
                    st = None
                if st is not None and not stat.S_ISREG(st.st_mode):
                    raise BadInput("not a regular file; a state file must be one (it is "
                                   "replaced atomically on every change)", file=self.path)
                _write_replace(target, tx._pending, None if st is None else st.st_mode & 0o7777)
        finally:
            # closing drops the flock; the lock file itself stays (deleting it would let two
            # processes lock two different inodes under the same name)
            lock.close()

    def read(self) -> bytes:
        """Read without the lock: safe, because writers only ever rename whole files in."""
        return read_input(self.path)
