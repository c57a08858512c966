# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu diff A B``: what changed between two generations or two hand-over blobs.

Exit status (our choice, documented in --help and docs/scenarios.md): 0 whether or not the
inputs differ — the count is in the output ("changed") — because diff(1)'s 1 is our "internal
error"; with ``--exit-code`` a difference exits 6, the code for "a rehearsal expectation
failed" (the expectation being "nothing changed"), like ``git diff --exit-code``.
"""
from __future__ import annotations

import click

from pcilu_cli.cli.profile_param import PROFILE
from pcilu_cli.cli.context import print_json, set_json_mode
from pcilu_cli.errors import ExitCode


@click.command()
@click.argument("a")
@click.argument("b")
@click.option("-p", "--profile", type=PROFILE,
              default=None, help="Layout of raw pci_ser blobs (default: detect).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--exit-code", is_flag=True, help="Exit 6 when A and B differ.")
@click.pass_context
def diff(ctx, a, b, profile, as_json, exit_code):
    """Show what changed between two generations (state files) or two blobs.

    A and B are both pcilu state files (devices: address, incoming/outgoing, refcounts,
    bus numbers, Bus Master, ACS, ARI; generation, profile, hand-over), both raw struct pci_ser
    blobs (entries, slots, refcounts), or both LUO FLB pages (records).

    Exit status: 0 (equal or not; see "changed"), 3 bad input, and with
    --exit-code 6 when they differ.

    \b
    Examples:
      pcilu diff gen0.elf gen1.elf
      pcilu diff a/flb/pci-v3.bin b/flb/pci-v3.bin --json | jq .changed
    """
    set_json_mode(as_json)
    from pcilu_cli.rehearsal.diff import diff_files, fmt_value
    doc = diff_files(a, b, profile=profile)
    if as_json:
        print_json(doc)
    else:
        rows = [(c["device"] or "(all)", c["field"], fmt_value(c["field"], c["a"]),
                 fmt_value(c["field"], c["b"])) for c in doc["changes"]]
        if rows:
            head = ("device", "field", "A", "B")
            w = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
            for r in [head] + rows:
                click.echo("  ".join(r[i].ljust(w[i]) for i in range(3)) + "  " + r[3])
        click.echo(f"{doc['changed']} change{'s' if doc['changed'] != 1 else ''} between "
                   f"{a} and {b} ({doc['a_kind']})")
    if exit_code and doc["changed"]:
        ctx.exit(ExitCode.EXPECTATION)
