# SPDX-License-Identifier: GPL-2.0-only
"""The command line: ``main()``, the one place where exceptions become messages and exit codes.

A command line goes one of two ways. The common ones of a rehearsal (``init``, ``preserve``,
``finish``, ``kexec``, ``enumerate --json`` with their usual options) are parsed by
cli/fastpath.py and run without importing click, which is a third of such a command's
start-up; everything else — any other command or option, ``--help``, a usage error — goes to
the click group of cli/group.py, whose subcommands are imported only when invoked.
"""
from __future__ import annotations

import io
import os
import sys

from pcilu_cli.cli.commands import COMMANDS, SUMMARIES
from pcilu_cli.cli.context import INTERRUPTED, OutputClosed
from pcilu_cli.errors import ExitCode, PcIluError

__all__ = ["COMMANDS", "SUMMARIES", "main"]     # and ``cli``, the click group (__getattr__)

STDOUT = "<stdout>"             # how an error writing the command's output names it


class _Stdout(io.RawIOBase):
    """File descriptor 1 beneath the console script's ``sys.stdout``, so that a write that
    fails (a full disk behind ``> out.json``, ``> /dev/full``, a terminal gone: ENOSPC, EIO,
    EDQUOT) is an ``OSError`` naming ``<stdout>``: a file-system error like any other, one
    line and exit 3 (:func:`_run`), not an internal error whose JSON document would fail to
    print in turn. A broken pipe stays a ``BrokenPipeError`` (``| head``: quiet, exit 141)."""

    def __init__(self, fd: int):
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, b) -> int | None:
        view = memoryview(b).cast("B")
        done = 0
        try:
            while done < len(view):          # a pipe may take fewer bytes than asked
                done += os.write(self._fd, view[done:])
        except (BrokenPipeError, BlockingIOError):
            if done:
                return done
            raise
        except OSError as e:
            raise OSError(e.errno, e.strerror, STDOUT) from None
        return done


def _name_stdout() -> None:
    """Put :class:`_Stdout` beneath ``sys.stdout`` (the console script only: in-process
    callers bring their own stdout), buffered as the interpreter had it (``-u``)."""
    old = sys.stdout
    if old is not sys.__stdout__ or old is None:
        return
    try:
        fd = old.fileno()
        old.flush()
    except (AttributeError, OSError, ValueError):
        return
    raw = _Stdout(fd)
    buffered = isinstance(getattr(old, "buffer", None), io.BufferedWriter)
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(raw) if buffered else raw,
                                  encoding=old.encoding, errors=old.errors,
                                  line_buffering=old.line_buffering,
                                  write_through=old.write_through)


def __getattr__(name):
    # the click group and what it is made of, for callers that import them from here
    # (tests, the man page): cli/group.py, imported only when asked for
    if name in ("cli", "LazyGroup", "EPILOG"):
        from pcilu_cli.cli import group
        return getattr(group, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


GLOBAL_FLAGS = {"--strict", "-q", "--quiet", "--traceback"}
GLOBAL_WITH_VALUE = {"--color"}


def hoist_global_options(args: list[str]) -> list[str]:
    """Let the global options stand anywhere (``pcilu export S -o D -q`` as well as
    ``pcilu -q export ...``): CI scripts append flags; click only reads them before the
    subcommand. Nothing after ``--`` is touched."""
    front, rest, i = [], [], 0
    while i < len(args):
        a = args[i]
        if a == "--":
            rest.extend(args[i:])
            break
        if a in GLOBAL_FLAGS:
            front.append(a)
        elif a in GLOBAL_WITH_VALUE and i + 1 < len(args):
            front.extend(args[i:i + 2])
            i += 1
        elif a.split("=", 1)[0] in GLOBAL_WITH_VALUE:
            front.append(a)
        else:
            rest.append(a)
        i += 1
    return front + rest


def main(argv=None):
    """Console-script entry point: run the group and map every outcome to an exit code."""
    args = hoist_global_options(sys.argv[1:] if argv is None else list(argv))
    if argv is None:
        _name_stdout()
    from pcilu_cli.cli.context import Settings, activate
    activate(Settings())
    # One command, then exit: the cyclic GC only slows down building the big object graphs
    # (every pci_dev and function of a host is alive until the end). Restored for in-process
    # callers (tests).
    import gc
    gc_was = gc.isenabled()
    gc.disable()
    try:
        code = _run(args)
    finally:
        if gc_was:
            gc.enable()
        if argv is None:
            # the process ends next: move every object out of the collector's sight, so that
            # the interpreter's collections at exit do not walk the whole heap (click's and
            # the command's objects) only to find that nothing is garbage. Refcounted objects
            # are still released; stdout/stderr are flushed as always. Not done for in-process
            # callers, whose collector keeps working.
            gc.freeze()
    sys.exit(code)


def _usage_json(args, err, code) -> None:
    """A usage error is raised before the command could switch JSON mode on; when ``--json``
    is on the command line, still print the one JSON document the contract promises."""
    words = args[:args.index("--")] if "--" in args else args
    if "--json" not in words:
        return
    from pcilu_cli.cli.context import print_json
    print_json({"kind": "error", "error": "UsageError", "exit_code": int(code),
                "message": " ".join(err.format_message().split())})


def _json_if_asked(args) -> None:
    """Ctrl-C before the command switched JSON mode on (while loading) still gets the one
    JSON document --json promises (and never a second one)."""
    from pcilu_cli.cli.context import current_settings
    words = args[:args.index("--")] if "--" in args else args
    s = current_settings()
    if "--json" in words and not s.json_printed:
        s.json_mode = True


def _quiet_stdout() -> None:
    """stdout was closed early: point it at /dev/null so the interpreter's final flush does
    not raise again (Python's SIGPIPE advice)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):      # no real file descriptor (in-process runners)
        pass


def _emit(err) -> None:
    """:func:`~pcilu_cli.cli.context.emit_error`, when stdout may be gone (closed by ``| head``
    or failing): the ``pcilu: error:`` line on stderr still appears, the rest is dropped."""
    from pcilu_cli.cli.context import emit_error
    try:
        emit_error(err)
    except BrokenPipeError:
        _quiet_stdout()
    except OSError as e:
        if e.filename != STDOUT:
            raise
        _quiet_stdout()


def _run(args) -> int:
    try:
        from pcilu_cli.cli import fastpath
        call = fastpath.parse(args)
        if call is None:
            code = _run_click(args)
        else:
            rv = fastpath.invoke(call)
            code = rv if isinstance(rv, int) else 0
    except PcIluError as e:
        code = e.exit_code
        from pcilu_cli.errors import Interrupted
        if isinstance(e, Interrupted):
            _json_if_asked(args)
        _emit(e)                     # (`pcilu ... --json | head -c 10` on a failure too)
    except KeyboardInterrupt:
        # Ctrl-C: one pcilu line, exit 130 (128 + SIGINT, as shells report it); --json still
        # gets its one document. Outputs are written atomically, so nothing half-written stays.
        from pcilu_cli.errors import Interrupted
        err = Interrupted(INTERRUPTED)
        code = err.exit_code
        _json_if_asked(args)
        _emit(err)
    except (BrokenPipeError, OutputClosed):
        # stdout closed early (e.g. `| head`): keep quiet, as Python's SIGPIPE advice says
        _quiet_stdout()
        code = ExitCode.BROKEN_PIPE
    except OSError as e:
        if e.filename is None:
            code = _internal(e)
        else:
            # a file-system error on a named file (read-only place, a file where a directory
            # is expected, ...) is bad input: one line naming the file, exit 3. On stdout
            # (full disk): the output stops there; the line goes to stderr, no JSON document
            from pcilu_cli.errors import BadInput
            message = f"{e.strerror or e}"
            if e.filename == STDOUT:
                _quiet_stdout()
                from pcilu_cli.cli.context import current_settings
                current_settings().json_mode = False
                message = f"the output could not be written: {message}"
            err = BadInput(message, file=e.filename)
            code = err.exit_code
            _emit(err)
    except Exception as e:  # noqa: BLE001 - the one place internal errors are reported
        code = _internal(e)
    return code


def _run_click(args) -> int:
    """The command line through the click group; click's own outcomes become exit codes here,
    and an interrupted parse (click.Abort) is a Ctrl-C like any other (:func:`_run`)."""
    import click
    from pcilu_cli.cli.group import cli
    try:
        rv = cli.main(args=args, prog_name="pcilu", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.UsageError as e:
        e.show()
        _usage_json(args, e, ExitCode.USAGE)
        return ExitCode.USAGE
    except click.ClickException as e:
        e.show()
        _usage_json(args, e, e.exit_code)
        return e.exit_code
    except click.Abort:
        raise KeyboardInterrupt from None


def _internal(e: BaseException) -> int:
    from pcilu_cli.cli.context import current_settings
    s = current_settings()
    if s.traceback or os.environ.get("PCILU_DEBUG"):
        import traceback
        traceback.print_exception(e)
    from pcilu_cli.cli.context import echo
    echo(f"pcilu: internal error: {type(e).__name__}: {e} "
         "(re-run with --traceback and report it)", err=True)
    if s.json_mode:
        from pcilu_cli.cli.context import print_json
        try:
            print_json({"kind": "error", "error": type(e).__name__, "exit_code": 1,
                        "message": f"internal error: {e}"})
        except OSError:              # stdout gone too: the stderr line above is the report
            _quiet_stdout()
    return ExitCode.INTERNAL
