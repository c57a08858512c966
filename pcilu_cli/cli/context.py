# SPDX-License-Identifier: GPL-2.0-only
"""Per-invocation settings and the output helpers every command shares.

Results go to stdout, diagnostics to stderr. In ``--json`` mode stdout carries exactly one JSON
document — also on failure, where it is ``{"kind": "error", ...}`` (bpftool's convention) while
the one-line message still goes to stderr. rich is imported only when a person is the reader.
"""
from __future__ import annotations

import os
import sys

from pcilu_cli.errors import Diagnostic, PcIluError


# click's pattern for an ANSI escape sequence (click._compat._ansi_re), which click.echo()
# strips from text going anywhere but a terminal
_ANSI = r"\033\[[0-?]*[ -/]*[@-~]"


def echo(text: str, *, err: bool = False) -> None:
    """One line of text on stdout (``err``: stderr), as ``click.echo(text, err=err)`` writes
    it — the newline added, ANSI escape sequences stripped unless the stream is a terminal
    (text from a state file is not trusted to drive the reader's terminal), flushed — without
    importing click: the commands the fast path runs (cli/fastpath.py) print through this.
    A stream that cannot encode the text (an ASCII-only locale) is left to click.echo, which
    re-wraps such streams."""
    stream = sys.stderr if err else sys.stdout
    if stream is None:
        return
    out = text + "\n"
    if "\033" in out and not _isatty(stream):
        import re
        out = re.sub(_ANSI, "", out)
    try:
        stream.write(out)       # a text stream encodes all of it before writing any of it
    except UnicodeEncodeError:
        import click
        click.echo(text, err=err)
        return
    stream.flush()


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:  # noqa: BLE001 - click's isatty(): no answer is no terminal
        return False


class Settings:
    """The global options of one invocation, and what it has printed so far. (A plain class:
    every command builds two of these, and a dataclass would be generated at every start.)"""

    def __init__(self, strict: bool = False, quiet: bool = False, color: str = "auto",
                 traceback: bool = False, json_mode: bool = False, json_printed: bool = False,
                 warnings: list | None = None):
        self.strict = strict
        self.quiet = quiet
        self.color = color
        self.traceback = traceback
        self.json_mode = json_mode
        self.json_printed = json_printed       # the one --json document has gone out
        self.warnings = [] if warnings is None else warnings


_DEFAULT = Settings()


INTERRUPTED = "interrupted (Ctrl-C); the unfinished command wrote nothing"


class OutputClosed(Exception):
    """stdout went away mid-output; not an OSError, so click's own EPIPE handler (which
    exits 1, our "bug") lets it through to :func:`pcilu_cli.cli._run`."""


def run_command(body):
    """``body()``, a command's own work, with its Ctrl-C our own error (one `pcilu:` line,
    exit 130, the --json document: before click's handler would print a bare newline and
    "Aborted!") and a closed stdout :class:`OutputClosed`. The one wrapper both ways of
    running a command use (the click group's invoke, cli/fastpath.py's)."""
    try:
        return body()
    except KeyboardInterrupt:
        from pcilu_cli.errors import Interrupted
        raise Interrupted(INTERRUPTED) from None
    except BrokenPipeError:
        raise OutputClosed() from None



_ACTIVE: list = []


def activate(settings: Settings) -> Settings:
    """Make ``settings`` the invocation's settings (also after click's context has closed)."""
    _ACTIVE[:] = [settings]
    return settings


def current_settings() -> Settings:
    return _ACTIVE[0] if _ACTIVE else _DEFAULT


def set_json_mode(on: bool) -> None:
    current_settings().json_mode = bool(on)


def emit_error(err: PcIluError) -> None:
    s = current_settings()
    echo(f"pcilu: error: {err.one_line()}", err=True)
    if s.json_mode:
        print_json(err.to_json())


def warn(diag: Diagnostic | str) -> None:
    """Report a warning on stderr; under --strict it becomes a bad-input failure (exit 3)."""
    s = current_settings()
    if isinstance(diag, str):
        diag = Diagnostic(diag)
    s.warnings.append(diag)
    if s.strict:
        raise diag.as_error()
    if not s.quiet:
        echo(f"pcilu: warning: {diag.one_line()}", err=True)


def notice(text: str) -> None:
    """An informational line for people (stderr, silenced by --quiet)."""
    if not current_settings().quiet:
        echo(f"pcilu: {text}", err=True)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 function``, ``2 functions`` (``many`` for irregular plurals)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def json_text(obj) -> str:
    """One JSON document as every command prints it (compact, UTF-8 as is)."""
    import json                  # only when a document is printed (not on every start)
    return json.dumps(obj, ensure_ascii=False, indent=None, separators=(",", ":"))


def print_json(obj) -> None:
    current_settings().json_printed = True
    sys.stdout.write(json_text(obj))
    sys.stdout.write("\n")
    sys.stdout.flush()


def print_json_pieces(pieces) -> None:
    """One JSON document already rendered by :func:`json_text` and kept as its UTF-8 bytes
    (the enumerate document of a state file), given as pieces of those bytes and written to
    the binary stream beneath stdout as they come: a 22 MB document is never decoded and
    encoded again, nor held whole."""
    current_settings().json_printed = True
    out = sys.stdout
    buf = getattr(out, "buffer", None)
    if buf is None:                     # a text-only stdout (an embedding caller's)
        import codecs
        utf8 = codecs.getincrementaldecoder("utf-8")()
        for piece in pieces:
            out.write(utf8.decode(piece))
        out.write(utf8.decode(b"", True) + "\n")
        out.flush()
    else:
        out.flush()                     # whatever the text layer holds goes first
        for piece in pieces:
            buf.write(piece)
        buf.write(b"\n")
        buf.flush()


def print_json_streamed(write_document) -> None:
    """``write_document(write, dumps)`` writes one document (ending in a newline) piece by
    piece, formatting as :func:`json_text` (a million-entry blob never exists as one string)."""
    current_settings().json_printed = True
    write_document(sys.stdout.write, json_text)
    sys.stdout.flush()


def console(stderr: bool = False):
    """A rich Console that honours --color, NO_COLOR and non-TTY output (imported lazily)."""
    from rich.console import Console
    s = current_settings()
    force = {"always": True, "never": False}.get(s.color)
    no_color = s.color == "never" or bool(os.environ.get("NO_COLOR"))
    stream = sys.stderr if stderr else sys.stdout
    # a pipe or a file (`| cat`, `| head`, a CI log) is never wrapped at rich's default of 80
    # columns: lines are as long as they need (COLUMNS still sets a width when given)
    width = None
    if not os.environ.get("COLUMNS"):
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        if not tty and force is not True:
            width = UNWRAPPED_WIDTH
    return Console(file=stream, force_terminal=force, width=width,
                   no_color=no_color, highlight=False, soft_wrap=False,
                   emoji=False)


UNWRAPPED_WIDTH = 1000     # columns for output that is not a terminal: nothing real wraps


def plain_table(columns, rows, right=()) -> list[str]:
    """Aligned columns as plain lines: never wrapped at 80 columns, no trailing spaces, and
    linear in the number of rows (a rich Table measures every cell: ~40 s for 65,536 rows).
    ``right`` holds the indexes of right-aligned columns."""
    rows = [tuple(str(c) for c in r) for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in zip(range(len(columns)),
                                                                          columns)]
    fmt = "  ".join(f"{{:{'>' if i in right else '<'}{w}}}" for i, w in zip(range(len(widths)),
                                                                              widths))
    out = [fmt.format(*columns).rstrip(), "  ".join("-" * w for w in widths)]
    out.extend(fmt.format(*r).rstrip() for r in rows)
    return out


def plain_table_lines(columns, rows, right=()):
    """:func:`plain_table`'s lines, one at a time, for more rows than should be held at once:
    ``rows()`` gives the rows afresh, once to measure the columns and once to format them."""
    widths = [len(h) for h in columns]
    for r in rows():
        for i, c in enumerate(r):
            if len(c) > widths[i]:
                widths[i] = len(c)
    fmt = "  ".join(f"{{:{'>' if i in right else '<'}{w}}}" for i, w in zip(range(len(widths)),
                                                                              widths))
    yield fmt.format(*columns).rstrip()
    yield "  ".join("-" * w for w in widths)
    for r in rows():
        yield fmt.format(*r).rstrip()


class _NoStatus:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def busy(text: str, *, size: int = 0, threshold: int = 20000):
    """A spinner on stderr for long operations — only on a TTY, only for people (not with
    --json or --quiet), and only when ``size`` (functions, entries, bytes/1000) is large."""
    s = current_settings()
    if s.quiet or s.json_mode or size < threshold or not sys.stderr.isatty():
        return _NoStatus()
    c = console(stderr=True)
    return c.status(text, spinner="dots")
