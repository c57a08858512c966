# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu examples``: list the example fabrics and scenarios shipped with pcilu, or copy them
into a directory (an installed wheel has no ``fixtures/``)."""
from __future__ import annotations

import click

from pcilu_cli.cli.context import notice, plain_table, print_json, set_json_mode


@click.command()
@click.option("--copy", "dest", metavar="DIR", default=None,
              help="Copy fabrics/ and scenarios/ into DIR (created if needed; existing "
                   "DIR/fabrics or DIR/scenarios are not overwritten).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def examples(dest, as_json):
    """List (or copy) the example fabrics and scenarios that ship with pcilu.

    \b
    Examples:
      pcilu examples
      pcilu examples --copy ex && pcilu rehearse ex/scenarios/
      pcilu init "$(pcilu examples --json | jq -r '.fabrics[0].path')" -o gen0.elf
    """
    set_json_mode(as_json)
    from pcilu_cli.api import shipped as ex
    doc = ex.copy(dest) if dest is not None else ex.listing()
    if as_json:
        print_json(doc)
        return
    if dest is not None:
        click.echo(f"{dest}/fabrics: {len(doc['fabrics'])} fabrics")
        click.echo(f"{dest}/scenarios: {len(doc['scenarios'])} scenarios")
        notice(f"try: pcilu rehearse {dest}/scenarios/")
        return
    click.echo(f"fabrics ({doc['root']}/fabrics):")
    click.echo("\n".join(f"  {f['name']}" for f in doc["fabrics"]))
    click.echo(f"scenarios ({doc['root']}/scenarios):")
    rows = [(s["name"], s["description"] or "") for s in doc["scenarios"]]
    click.echo("\n".join("  " + ln for ln in plain_table(("scenario", "story"), rows)[2:]))
