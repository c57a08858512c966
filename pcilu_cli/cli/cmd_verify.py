# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu verify PREDICTED ACTUAL...``: the generation pcilu predicted against what the real
host showed after its kexec (pcilu_cli.rehearsal.verify). Exit 6 when anything diverges."""
from __future__ import annotations

import click

from pcilu_cli.cli.context import print_json, set_json_mode
from pcilu_cli.errors import ExitCode


@click.command()
@click.argument("predicted", metavar="PREDICTED")
@click.argument("actual", metavar="ACTUAL...", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--ktap", "as_ktap", is_flag=True,
              help="KTAP version 1 on stdout: one test per device (its fields as subtests) "
                   "and one for the kernel log.")
@click.option("--junit", "junit", metavar="FILE", default=None,
              help="Also write JUnit XML (one testcase per device and field).")
@click.pass_context
def verify(ctx, predicted, actual, as_json, as_ktap, junit):
    """Hold a predicted generation against the real host after its kexec.

    PREDICTED is the state file of the generation pcilu booted (e.g. gen1.elf). ACTUAL is what
    the real host showed: an `lspci -xxxx` dump, a sysfs snapshot or a capture archive, plus
    optionally kernel log files (dmesg, journalctl -k). Per device: present, identity, bus
    numbers, Bus Master, ACS Control, ARI Forwarding, power state; and every predicted log line
    in the real log (order-insensitive; timestamps and prefixes ignored). What pcilu does not
    model (a driver that re-enabled Bus Master after bind) is listed as unmodelled, not failed.

    Exit codes: 0 nothing diverges; 6 a divergence (each named: device, field, predicted,
    actual); 3 an unreadable or unrecognised file.

    \b
    Examples:
      pcilu verify gen1.elf host-after.lspci dmesg.txt
      pcilu verify gen1.elf host-after.tar.gz --json | jq '.divergences[].message'
      pcilu verify gen1.elf lspci.txt --ktap > verify.ktap
    """
    if as_json and as_ktap:
        from pcilu_cli.errors import UsageError
        raise UsageError("--json and --ktap both want stdout: choose one")
    set_json_mode(as_json)
    from pcilu_cli import api
    from pcilu_cli.rehearsal import verify as engine
    doc = api.verify(predicted, *actual)
    if junit:
        from pcilu_cli.state.store import atomic_write
        atomic_write(junit, engine.to_junit(doc))
    if as_json:
        print_json(doc)
    elif as_ktap:
        from pcilu_cli.rehearsal.ktap import verify_ktap
        click.echo(verify_ktap(doc), nl=False)
    else:
        _render(doc)
    if doc["divergences"]:
        d = doc["divergences"]
        more = f" (and {len(d) - 1} more)" if len(d) > 1 else ""
        click.echo(f"pcilu: error: {predicted}: {d[0]['message']}{more}", err=True)
        ctx.exit(ExitCode.EXPECTATION)


def _render(doc: dict) -> None:
    out = [f"{doc['predicted']}: generation {doc['generation']} ({doc['profile']}) against "
           f"{', '.join(doc['actual'])}: {doc['devices']} devices"]
    for d in doc["divergences"]:
        out.append(f"DIFF  {d['message']}")
    for d in doc["unmodelled"]:
        what = d["device"] or "kernel log"
        val = d["predicted"] if d["field"] == "log" else \
            f"predicted {engine_show(d['predicted'])}, actual {engine_show(d['actual'])}"
        out.append(f"NOTE  {what}: {d['field']}: {val} (not modelled: {d['reason']})")
    for d in doc["not_compared"]:
        out.append(f"SKIP  {d['device']}: {d['field']}: {d['reason']}")
    log = doc["log"]
    if log.get("compared"):
        out.append(f"kernel log: {log['matched']} of {log['predicted']} predicted lines found"
                   + (f", {len(log['missing'])} missing" if log["missing"] else "")
                   + (f", {len(log['unexpected'])} unpredicted Live Update lines"
                      if log["unexpected"] else ""))
    else:
        out.append(f"kernel log: not compared ({log['reason']})")
    n = len(doc["divergences"])
    out.append(("passed" if not n else "FAILED") + f": {n} divergences, "
               f"{len(doc['unmodelled'])} unmodelled, {len(doc['not_compared'])} not compared")
    click.echo("\n".join(out))


def engine_show(v) -> str:
    from pcilu_cli.rehearsal.verify import _show
    return _show(v)
