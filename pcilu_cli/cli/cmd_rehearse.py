# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu rehearse``: run scenario files (fabric + kernel + steps + expectations) in memory.

Exit 0 when every expectation holds, 6 when one does not (the message names the step and the
expectation), 3 when a scenario file is invalid (file:line).
"""
from __future__ import annotations

import click

from pcilu_cli.cli.context import console, print_json, set_json_mode
from pcilu_cli.errors import ExitCode


@click.command()
@click.argument("scenarios", metavar="SCENARIO...", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object on stdout (a list under \"results\" for several files).")
@click.option("--ktap", "as_ktap", is_flag=True,
              help="KTAP version 1 on stdout: one test per scenario, its steps as subtests.")
@click.option("--junit", "junit", metavar="FILE", default=None,
              help="Also write JUnit XML (one testcase per step and per expectation).")
@click.option("--keep", metavar="DIR", default=None,
              help="Write each generation's state file into DIR (genN.elf).")
@click.option("-x", "--fail-fast", is_flag=True, help="Stop a scenario at its first failure.")
@click.option("--no-log", is_flag=True, help="Do not print the kernel log lines of each step.")
@click.pass_context
def rehearse(ctx, scenarios, as_json, as_ktap, junit, keep, fail_fast, no_log):
    """Rehearse a Live Update from scenario files and check their expectations.

    A scenario names a fabric, a kernel profile and command line, and steps (preserve,
    unpreserve, kexec, finish, hot-remove, hot-add, rescan, reset, reset-on-kexec, power) with
    expectations after each (incoming, bus-master, buses unchanged, refused, panic, log, pci-ser,
    ...). Everything runs in memory. Format: docs/scenarios.md. A directory stands for its
    *.yaml files. The report ends with one line: N passed, N failed (, N skipped).

    Exit codes: 0 all expectations hold; 6 an expectation failed (the message names
    the step and the expectation); 3 a scenario file is invalid (file:line). With --ktap the
    verdicts are in the stream (a skipped step is "# SKIP", never exit 4: 4 is a kernel
    refusal in pcilu, not kselftest's KSFT_SKIP).

    \b
    Examples:
      pcilu rehearse fixtures/scenarios/qemu-virtio-net.yaml
      pcilu rehearse fixtures/scenarios/ --junit report.xml --no-log
      pcilu rehearse fixtures/scenarios/ --ktap > rehearse.ktap
      pcilu rehearse my.yaml --json | jq .first_failure
    """
    if as_json and as_ktap:
        from pcilu_cli.errors import UsageError
        raise UsageError("--json and --ktap both want stdout: choose one")
    set_json_mode(as_json)
    from pcilu_cli.api import suite
    from pcilu_cli.rehearsal import report
    from pcilu_cli.rehearsal.ktap import rehearse_ktap, summary
    people = not (as_json or as_ktap)
    con = console() if people else None
    results = suite.run_all(scenarios, fail_fast=fail_fast, keep=keep,
                            each=(lambda r: report.render(r, con, show_log=not no_log))
                            if people else None)
    if junit:
        from pcilu_cli.state.store import atomic_write
        atomic_write(junit, report.to_junit(results))
    if as_json:
        print_json(suite.document(results))
    elif as_ktap:
        click.echo(rehearse_ktap(results), nl=False)
    else:
        click.echo(summary(results))
    failures = [f for r in results for f in r.failures]
    if failures:
        where = results[[bool(r.failures) for r in results].index(True)].scenario.path
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        click.echo(f"pcilu: error: {where}: {failures[0]}{more}", err=True)
        ctx.exit(ExitCode.EXPECTATION)
