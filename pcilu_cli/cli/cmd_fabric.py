# SPDX-License-Identifier: GPL-2.0-only
"""`pcilu fabric ...`: look at a fabric (YAML, lspci dump, sysfs snapshot, serialized fabric).

    pcilu fabric show FABRIC [--json]     lspci -tv-like tree with live-update facts
    pcilu fabric export FABRIC [-o FILE] [--format dump|yaml]
"""
from __future__ import annotations

import click


PLAIN_TREE_ABOVE = 2000       # functions: beyond this, an indented text tree (rich is slow)


@click.group(name="fabric")
def fabric():
    """Inspect and convert PCI fabrics (YAML, `lspci -xxxx` dump, sysfs snapshot)."""


def _load(path):
    """A fabric from FABRIC as the commands accept it: YAML, lspci dump, sysfs snapshot,
    serialized fabric, or a pcilu state file (its fabric as that generation left it);
    ``-`` reads standard input."""
    from pcilu_cli.cli.context import warn
    from pcilu_cli.fabric import load_fabric, load_fabric_bytes
    if path == "-":
        from pcilu_cli.state.store import read_input
        data, name = read_input("-"), "<stdin>"
    else:
        try:
            with open(path, "rb") as f:
                head = f.read(4096)
        except OSError:
            head = b""        # a directory (sysfs snapshot) or missing: load_fabric says which
        data, name = None, path
        if head[:4] == b"\x7fELF":
            from pcilu_cli.state import load
            return load(path).fabric
        _refuse_non_fabric(head, path)
    if data is not None:
        if data[:4] == b"\x7fELF":
            from pcilu_cli.state import Machine
            return Machine.from_bytes(data, file=name).fabric
        _refuse_non_fabric(data[:4096], name)
        fab = load_fabric_bytes(data, name)
    else:
        fab = load_fabric(path)
    for d in fab.diagnostics:
        warn(d)
    return fab


def _refuse_non_fabric(head: bytes, name) -> None:
    """A scenario or a binary blob given where a fabric is expected: say what it is."""
    if not head:
        return
    from pcilu_cli.abi.filekind import describe
    what = describe(head)
    if what.startswith("a rehearsal scenario"):
        from pcilu_cli.errors import BadInput
        raise BadInput("this is a rehearsal scenario, not a fabric: run it with "
                       f"`pcilu rehearse {name}` (its `fabric:` names the fabric)", file=name)
    if what.startswith(("binary data", "a flattened device tree")):
        from pcilu_cli.errors import BadInput
        raise BadInput(f"this is {what}, not a fabric (a YAML fabric, `lspci -xxxx` dump, "
                       "sysfs snapshot, capture or serialized fabric); `pcilu inspect` "
                       "decodes blobs", file=name)


@fabric.command("show")
@click.argument("fabric_file", metavar="FABRIC")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def show(fabric_file, as_json):
    """Show FABRIC as a tree: bus ranges, BusMaster, ACS Control, ARI Forwarding, SR-IOV.

    FABRIC is a YAML fabric, an `lspci -x/-xxx/-xxxx` dump, a sysfs snapshot (directory or
    tar archive) or a pcilu state file (the fabric as that generation left it).

    \b
    Examples:
      pcilu fabric show fixtures/fabrics/emr-dsa-nvme.yaml
      pcilu fabric show fixtures/lspci/tree-asus-p6t6 --json | jq .kind
      pcilu fabric show gen1.elf
    """
    from pcilu_cli.cli.context import console, print_json, set_json_mode
    set_json_mode(as_json)
    fab = _load(fabric_file)
    if as_json:
        from pcilu_cli.fabric.render import fabric_to_json
        print_json(fabric_to_json(fab))
        return 0
    from pcilu_cli.cli.context import plural
    title = f"fabric {fab.name} ({plural(len(fab), 'function')})"
    if len(fab) > PLAIN_TREE_ABOVE:
        import sys
        from pcilu_cli.fabric.render import tree_lines
        sys.stdout.writelines(line + "\n" for line in tree_lines(fab, title))
        return 0
    from pcilu_cli.fabric.render import render_tree
    console().print(render_tree(fab, title))
    return 0


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
    fab = _load(fabric_file)
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
