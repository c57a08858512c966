# SPDX-License-Identifier: GPL-2.0-only
"""`pcilu fabric ...`: look at a fabric (YAML, lspci dump, sysfs snapshot, serialized fabric).

    pcilu fabric show FABRIC [--json]     lspci -tv-like tree with live-update facts
    pcilu fabric export FABRIC [-o FILE] [--format dump|yaml]
"""
from __future__ import annotations

import click

from pcilu_cli.cli.fabric_input import load_fabric, load_fabric_with_machine

PLAIN_TREE_ABOVE = 2000       # functions: beyond this, an indented text tree (rich is slow)


@click.group(name="fabric")
def fabric():
    """Inspect and convert PCI fabrics (YAML, `lspci -xxxx` dump, sysfs snapshot)."""


@fabric.command("show")
@click.argument("fabric_file", metavar="FABRIC")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (= --format json).")
@click.option("--format", "fmt", type=click.Choice(["tree", "json", "dot"]), default="tree",
              show_default=True, help="Tree for people, JSON for scripts, Graphviz DOT.")
def show(fabric_file, as_json, fmt):
    """Show FABRIC as a tree: bus ranges, BusMaster, ACS Control, ARI Forwarding, SR-IOV.

    FABRIC is a YAML fabric, an `lspci -x/-xxx/-xxxx` dump, a sysfs snapshot (directory or
    tar archive) or a pcilu state file (the fabric as that generation left it). For a state
    file the Live Update path is marked: [out=N] outgoing with refcount N, [in] incoming,
    [finished], [BM-lost] Bus Master cleared at the kexec into this generation, [SKIPPED]
    bridges the scan skipped, [not-enumerated] (coloured on a terminal).

    \b
    Examples:
      pcilu fabric show fixtures/fabrics/emr-dsa-nvme.yaml
      pcilu fabric show fixtures/lspci/tree-asus-p6t6 --json | jq .kind
      pcilu fabric show gen1.elf
      pcilu fabric show gen1.elf --format dot | dot -Tsvg -o gen1.svg
    """
    from pcilu_cli.cli.context import print_json, set_json_mode
    if as_json:
        fmt = "json"
    set_json_mode(fmt == "json")
    fab, m = load_fabric_with_machine(fabric_file)
    if fmt == "json":
        from pcilu_cli.fabric.render import fabric_to_json
        print_json(fabric_to_json(fab))
        return 0
    gmarks = {}
    if m is not None:
        from pcilu_cli.cli.pathmarks import generation_marks
        gmarks = generation_marks(m.report())
    if fmt == "dot":
        import sys
        from pcilu_cli.cli.dot import fabric_dot
        from pcilu_cli.fabric.render import fabric_to_json
        title = f"pcilu fabric {fab.name}" + (f" generation {m.generation}" if m else "")
        sys.stdout.write(fabric_dot(fabric_to_json(fab), gmarks, title=title))
        sys.stdout.flush()
        return 0
    from pcilu_cli.cli.context import plural
    title = f"fabric {fab.name} ({plural(len(fab), 'function')})"
    if m is not None:
        title += f", generation {m.generation} ({m.profile.name})"
    print_marked_tree(fab, gmarks, title)
    return 0


def print_marked_tree(fab, gmarks: dict, title: str, keep: set | None = None) -> None:
    """The fabric tree with a generation's Live Update marks (``pathmarks``) after each
    function: colour on a terminal, plain words in a pipe (never wrapped), then a legend.
    ``keep``: draw only these uids (see ``fabric.render.render_tree``)."""
    from pcilu_cli.cli.context import console
    from pcilu_cli.cli.pathmarks import tokens
    marks = {uid: tokens(mk) for uid, mk in gmarks.items()}
    con = console()
    colour = con.is_terminal and not con.no_color
    if len(fab) > PLAIN_TREE_ABOVE or not con.is_terminal:
        # plain lines: linear for large fabrics, and never wrapped at 80 columns in a pipe
        import sys
        from pcilu_cli.fabric.render import tree_lines
        paint = _click_paint if colour else None
        sys.stdout.writelines(line + "\n" for line in tree_lines(fab, title, marks, paint,
                                                                 keep=keep))
        sys.stdout.flush()
    else:
        from pcilu_cli.fabric.render import render_tree
        con.print(render_tree(fab, title, marks, keep=keep))
    _legend_lines(marks if keep is None else {u: t for u, t in marks.items() if u in keep},
                  colour)


def touched_with_ancestors(fab, uids) -> set:
    """``uids`` and every function above them (the path from the root bus)."""
    keep = set()
    for uid in uids:
        fn = fab.by_uid(uid) if fab.has_uid(uid) else None
        while fn is not None and fn.uid not in keep:
            keep.add(fn.uid)
            fn = fn.physfn if fn.is_virtfn and fn.physfn is not None else fn.upstream
    return keep


_RICH_TO_CLICK = {"green": "green", "cyan": "cyan", "yellow": "yellow", "red": "red",
                  "magenta": "magenta"}


def _click_paint(word: str, style: str) -> str:
    parts = style.split()
    fg = next((_RICH_TO_CLICK[p] for p in parts if p in _RICH_TO_CLICK), None)
    return click.style(word, fg=fg, bold="bold" in parts)


def _legend_lines(marks: dict, colour: bool) -> None:
    """One line saying what the markers mean, when there are any."""
    if not marks:
        return
    from pcilu_cli.cli.pathmarks import LEGEND
    used = {w.split("=")[0] for ts in marks.values() for w, _s in ts}
    keys = [(k, v) for k, v in LEGEND if k.split("=")[0] in used]
    text = "markers: " + "; ".join(f"[{k}] {v}" for k, v in keys)
    click.echo(click.style(text, dim=True) if colour else text)


@fabric.command("export")
@click.argument("fabric_file", metavar="FABRIC")
@click.option("-o", "--output", metavar="FILE", help="Write here (default: stdout).")
@click.option("--format", "fmt", type=click.Choice(["dump", "yaml"]), default="dump",
              show_default=True, help="`lspci -xxxx` dump (for `lspci -F`) or YAML fabric.")
def export(fabric_file, output, fmt):
    """Write FABRIC as an lspci dump (readable by `lspci -F`) or as a YAML fabric.

    \b
    Examples:
      pcilu fabric export fixtures/fabrics/switch.yaml -o switch.txt
      lspci -F switch.txt -tv
      pcilu fabric export fixtures/lspci/tree-asus-p6t6 --format yaml -o asus.yaml
    """
    fab = load_fabric(fabric_file)
    if fmt == "dump":
        from pcilu_cli.fabric.lspci import export_dump
        text = export_dump(fab)
    else:
        from pcilu_cli.fabric.yamlfmt import dump_yaml
        text = dump_yaml(fab)
    if output:
        import os
        tmp = f"{output}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, output)
    else:
        click.echo(text, nl=False)
    return 0
