# SPDX-License-Identifier: GPL-2.0-only
"""One exception hierarchy for pcilu; the CLI turns each class into a message and an exit code.

Exit codes (the design's contract, relied on by users' scripts):
    0 ok · 1 internal error · 2 usage · 3 bad input · 4 refused by the simulated kernel
    5 the simulated kernel panicked · 6 a rehearsal expectation failed

Lower layers raise these; they never print. Warnings that the kernel itself would only log
are returned as :class:`Diagnostic` objects so that ``--strict`` can promote them.
"""
from __future__ import annotations

import errno as _errno


class ExitCode:
    OK = 0
    INTERNAL = 1
    USAGE = 2
    BAD_INPUT = 3
    REFUSED = 4
    PANIC = 5
    EXPECTATION = 6
    INTERRUPTED = 130          # Ctrl-C: 128 + SIGINT, what a shell reports for it
    # stdout closed before the output was all written (`pcilu ... | head`): 128 + SIGPIPE, what
    # a shell reports for a program the signal ended; never 1, which would say "a bug"
    BROKEN_PIPE = 141


def _where(file=None, offset=None, field=None, line=None) -> str:
    parts = []
    if file is not None:
        parts.append(f"{file}:{line}" if line is not None else str(file))
    if offset is not None:
        parts.append(f"offset {offset:#x}")
    if field is not None:
        parts.append(f"field {field}")
    return ": ".join(parts)


class PcIluError(Exception):
    """Base class. ``exit_code`` is the process exit status the CLI uses."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def one_line(self) -> str:
        return " ".join(str(self.message).split())

    def to_json(self) -> dict:
        return {"kind": "error", "error": type(self).__name__, "exit_code": self.exit_code,
                "message": self.one_line()}


class UsageError(PcIluError):
    """The command line itself is wrong (exit 2)."""

    exit_code = ExitCode.USAGE


class BadInput(PcIluError):
    """A file or fabric is unreadable, corrupt or invalid (exit 3).

    The message names the file and, where known, the byte offset / line and the field.
    """

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str, *, file=None, offset=None, field=None, line=None):
        self.file, self.offset, self.field, self.line = file, offset, field, line
        self.reason = message               # the message without where it was found
        where = _where(file, offset, field, line)
        super().__init__(f"{where}: {message}" if where else message)

    def in_file(self, file, *, field=None) -> "BadInput":
        """The same failure, found in ``file`` (a decoder that only saw bytes names no file;
        its caller knows which file they came from). Offset, line and field are kept: they
        are what a user needs to find the bad byte (``field`` is put before the decoder's
        own, ``FIELD: INNER``, when the bytes were one part of the file)."""
        inner = self.field
        if field is not None and inner != field and not str(inner).startswith(f"{field}: "):
            inner = field if inner is None else f"{field}: {inner}"
        return BadInput(self.reason, file=file if self.file is None else self.file,
                        offset=self.offset, field=inner, line=self.line)

    def to_json(self) -> dict:
        d = super().to_json()
        for k in ("file", "offset", "field", "line"):
            v = getattr(self, k)
            if v is not None:
                d[k] = str(v) if k == "file" else v
        return d


class KernelRefusal(PcIluError):
    """The simulated kernel refused an operation with -errno (exit 4).

    ``errno_name`` is e.g. ``"EBUSY"``; ``kernel_message`` is what the kernel logged, if anything.
    """

    exit_code = ExitCode.REFUSED

    def __init__(self, errno_name: str, message: str, *, bdf: str | None = None,
                 kernel_message: str | None = None):
        self.errno_name = errno_name
        self.errno = getattr(_errno, errno_name, None)
        self.bdf = bdf
        self.kernel_message = kernel_message
        text = f"{bdf}: " if bdf else ""
        text += f"-{errno_name}"
        if message:
            text += f": {message}"
        super().__init__(text)

    def to_json(self) -> dict:
        d = super().to_json()
        d.update({"errno": self.errno_name, "bdf": self.bdf, "kernel_message": self.kernel_message})
        return d


class KernelPanic(PcIluError):
    """The simulated kernel panicked (exit 5). ``panic_message`` is the panic text.

    Who panicked, for the caller that saves or reports it: ``kernel`` is the simulated kernel
    (set where the kernel records its panic), ``machine`` the generation it ran in (the state
    layer's Machine, or the API's wrapper of it once the exception passes through the API),
    ``messages`` the kernel log lines of a panic in early boot (KHO/LUO), before any kernel
    object exists. Each is None (or empty) until the layer that knows it fills it in.
    """

    exit_code = ExitCode.PANIC
    kernel: object | None
    machine: object | None
    messages: list

    def __init__(self, panic_message: str, *, kernel=None, machine=None, messages=()):
        self.panic_message = panic_message
        self.kernel = kernel
        self.machine = machine
        self.messages = list(messages)
        super().__init__(f"Kernel panic - not syncing: {panic_message}")

    def to_json(self) -> dict:
        d = super().to_json()
        d["panic"] = self.panic_message
        return d


class ExpectationFailed(PcIluError):
    """A rehearsal expectation did not hold (exit 6)."""

    exit_code = ExitCode.EXPECTATION


class Interrupted(PcIluError):
    """The user pressed Ctrl-C (SIGINT): exit 130."""

    exit_code = ExitCode.INTERRUPTED


class StateLocked(PcIluError):
    """Another pcilu process holds the state file's lock and --wait ran out (exit 1)."""

    exit_code = ExitCode.INTERNAL


class Value:
    """The base of pcilu's plain value classes: equal when their ``FIELDS`` are, shown as
    ``Name(field=value, ...)``. (Plain classes rather than dataclasses, whose methods are
    generated at import: the modules on every command's start-up path hold such values.)
    Unhashable, as a dataclass with ``eq``; :class:`FrozenValue` for read-only ones."""

    __slots__ = ()
    FIELDS: tuple = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, f) for f in self.FIELDS)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None

    def __repr__(self) -> str:
        return self.__class__.__name__ + "(" + ", ".join(
            f"{f}={v!r}" for f, v in zip(self.FIELDS, self._values())) + ")"


class FrozenValue(Value):
    """A :class:`Value` that is read-only once made, so it hashes like its fields."""

    __slots__ = ()

    def __hash__(self):
        return hash(self._values())


class Diagnostic(FrozenValue):
    """A warning about input the kernel itself would accept (it would only log, or not notice).

    ``--strict`` turns every Diagnostic into a :class:`BadInput` failure. A value: equal (and
    hashing alike) when its fields are, read-only once made. A plain class rather than a frozen
    dataclass, so that every pcilu start (this module is always imported) does not pay for
    generating its methods.
    """

    __slots__ = ("message", "file", "offset", "field", "line", "kernel_accepts")
    FIELDS = __slots__

    def __init__(self, message: str, file: str | None = None, offset: int | None = None,
                 field: str | None = None, line: int | None = None,
                 kernel_accepts: bool | None = None):
        # kernel_accepts: True: the kernel would accept the input (it only logs, or does not
        # notice); False: the kernel would refuse it (a failure, not a warning); None: not a
        # kernel matter
        for name, value in zip(self.__slots__,
                               (message, file, offset, field, line, kernel_accepts)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r} (a Diagnostic is read-only)")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r} (a Diagnostic is read-only)")


    def one_line(self) -> str:
        where = _where(self.file, self.offset, self.field, self.line)
        tail = " (the kernel would accept this)" if self.kernel_accepts is True else ""
        return f"{where}: {self.message}{tail}" if where else f"{self.message}{tail}"

    def to_json(self) -> dict:
        d = {"message": self.message}
        if self.kernel_accepts is not None:
            d["kernel_accepts"] = self.kernel_accepts
        for k in ("file", "offset", "field", "line"):
            v = getattr(self, k)
            if v is not None:
                d[k] = str(v) if k == "file" else v
        return d

    def as_error(self) -> BadInput:
        """The failure this warning becomes (under --strict, or when the kernel would refuse)."""
        suffix = "" if self.kernel_accepts is False else " (a warning, failing because of --strict)"
        return BadInput(self.message + suffix, file=self.file, offset=self.offset,
                        field=self.field, line=self.line)
