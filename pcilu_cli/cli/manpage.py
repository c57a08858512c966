# SPDX-License-Identifier: GPL-2.0-only
"""Man pages generated from the click commands themselves (``make man``): one page for
``pcilu`` and one per subcommand (``pcilu-verify.1`` …), in roff, from each command's help
text, usage line and options, so that they cannot drift from ``--help``.

    python -m pcilu_cli.cli.manpage OUTDIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from pcilu_cli import __version__


def _roff(text: str) -> str:
    out = []
    for ln in text.replace("\\", "\\\\").splitlines():
        ln = ln.replace("\b", "")
        if ln.startswith((".", "'")):
            ln = "\\&" + ln
        ln = ln.replace("-", "\\-")
        out.append("".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in ln))
    return "\n".join(out)


def _paragraphs(text: str) -> str:
    """click's help: paragraphs separated by blank lines; a paragraph after ``\\b`` keeps its
    line breaks (examples), the others are filled."""
    out = []
    for para in (text or "").split("\n\n"):
        if para.lstrip().startswith("\b"):
            out.append(".PP\n.nf\n" + _roff(para.strip("\n")) + "\n.fi")
        elif para.strip():
            out.append(".PP\n" + _roff(" ".join(para.split())))
    return "\n".join(out)


def page(cmd: click.Command, name: str, ctx: click.Context) -> str:
    short = (cmd.get_short_help_str(limit=80) or "").rstrip(".")
    usage = " ".join(cmd.collect_usage_pieces(ctx))
    parts = [f'.TH "{name.upper()}" 1 "" "pcilu {__version__}" "pcilu manual"',
             ".SH NAME", f"{_roff(name)} \\- {_roff(short)}",
             ".SH SYNOPSIS", f".B {_roff(name.replace('-', ' ', 1))}", _roff(usage),
             ".SH DESCRIPTION", _paragraphs(cmd.help or "")]
    opts = [p for p in cmd.get_params(ctx) if isinstance(p, click.Option)]
    if opts:
        parts.append(".SH OPTIONS")
        for p in opts:
            rec = p.get_help_record(ctx)
            if rec is None:
                continue
            parts.append(f".TP\n.B {_roff(rec[0])}\n{_roff(' '.join(rec[1].split()))}")
    if isinstance(cmd, click.Group):
        parts.append(".SH COMMANDS")
        for sub in cmd.list_commands(ctx):
            c = cmd.get_command(ctx, sub)
            parts.append(f".TP\n.BR pcilu\\-{_roff(sub)} (1)\n"
                         f"{_roff(c.get_short_help_str(limit=80))}")
    if cmd.epilog:
        parts += [".SH NOTES", _paragraphs(cmd.epilog)]
    parts += [".SH SEE ALSO", ".BR pcilu (1)" if name != "pcilu" else ".BR lspci (8)"]
    return "\n".join(parts) + "\n"


def pages() -> dict:
    """``{"pcilu.1": text, "pcilu-verify.1": text, ...}`` (groups: ``pcilu-fabric-show.1``)."""
    from pcilu_cli.cli import cli
    out = {}
    root = click.Context(cli, info_name="pcilu")
    out["pcilu.1"] = page(cli, "pcilu", root)

    def walk(group, gctx, prefix):
        for sub in group.list_commands(gctx):
            c = group.get_command(gctx, sub)
            name = f"{prefix}-{sub}"
            cctx = click.Context(c, info_name=sub, parent=gctx)
            out[f"{name}.1"] = page(c, name, cctx)
            if isinstance(c, click.Group):
                walk(c, cctx, name)
    walk(cli, root, "pcilu")
    return out


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    outdir = Path(args[0] if args else "build/man")
    outdir.mkdir(parents=True, exist_ok=True)
    for name, text in pages().items():
        (outdir / name).write_text(text)
    print(f"wrote {len(pages())} man pages into {outdir}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
