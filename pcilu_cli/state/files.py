# SPDX-License-Identifier: GPL-2.0-only
"""The front door for files: read an input once, say what it is, refuse what a command
cannot take.

    inp = open_input(path)                       # Input(data, name, ident)
    inp = open_input(path, accept={"elf"}, purpose="a pcilu state file")
    refuse(inp, purpose) -> BadInput             # "<file>: a LUO FLB page (1 record), not ..."

Recognition is the one table of :mod:`pcilu_cli.abi.formats` (magic bytes, then shapes);
this module adds reading (stdin, size limits: :func:`pcilu_cli.state.store.read_input`) and
the one-line refusal naming what the file looks like and which commands read it.
"""
from __future__ import annotations

from pcilu_cli.abi.formats import Identified, identify
from pcilu_cli.errors import BadInput


class Input:
    """A file read and identified. (A plain class: every ``inspect`` builds one, and a
    dataclass would be generated at every start.)"""

    __slots__ = ("data", "name", "ident")

    def __init__(self, data: bytes, name: str, ident: Identified):
        self.data = data
        self.name = name          # for messages: the path, or "<stdin>"
        self.ident = ident

    def __repr__(self) -> str:
        return f"Input(data=<{len(self.data)} bytes>, name={self.name!r}, ident={self.ident!r})"

    @property
    def kind(self) -> str:
        return self.ident.kind


def display_name(path) -> str:
    return "<stdin>" if str(path) == "-" else str(path)


def identify_bytes(data: bytes, name: str) -> Input:
    return Input(data, name, identify(data, name))


def open_input(path, *, accept=None, purpose: str = "") -> Input:
    """Read ``path`` (``-`` = stdin) and identify it; with ``accept`` (a set of kinds), any
    other kind is refused with :func:`refuse`."""
    from pcilu_cli.state.store import read_input
    inp = identify_bytes(read_input(path), display_name(path))
    if accept is not None and inp.kind not in accept:
        raise refuse(inp, purpose)
    return inp


def refuse(inp: Input, purpose: str, hint: str = "") -> BadInput:
    """The one-line refusal: what the file looks like, what was wanted, who reads it."""
    msg = f"{inp.ident.describe()}, not {purpose}" if purpose else inp.ident.describe()
    if inp.ident.readers:
        msg += f" (read by: {inp.ident.readers})"
    if hint:
        msg += f"; {hint}"
    return BadInput(msg, file=inp.name, offset=0)
