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
@click.argument("scenarios", metavar="SCENARIO.yaml...", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object on stdout (a list under \"results\" for several files).")
@click.option("--junit", "junit", metavar="FILE", default=None,
              help="Also write JUnit XML (one testcase per step and per expectation).")
@click.option("--keep", metavar="DIR", default=None,
              help="Write each generation's state file into DIR (genN.elf).")
@click.option("-x", "--fail-fast", is_flag=True, help="Stop a scenario at its first failure.")
@click.option("--no-log", is_flag=True, help="Do not print the kernel log lines of each step.")
@click.pass_context
def rehearse(ctx, scenarios, as_json, junit, keep, fail_fast, no_log):
    """Rehearse a Live Update from a scenario file and check its expectations.

    A scenario names a fabric, a kernel profile and command line, and steps (preserve,
    unpreserve, kexec, finish, hot-remove, hot-add, rescan, reset, reset-on-kexec, power) with
    expectations after each (incoming, bus-master, buses unchanged, refused, panic, log, pci-ser,
    ...). Everything runs in memory. Format: docs/scenarios.md.

    Exit codes: 0 all expectations hold; 6 an expectation failed (the message names
    the step and the expectation); 3 the scenario file is invalid (file:line).

    \b
    Examples:
      pcilu rehearse fixtures/scenarios/qemu-virtio-net.yaml
      pcilu rehearse fixtures/scenarios/*.yaml --junit report.xml --no-log
      pcilu rehearse my.yaml --json | jq .first_failure
    """
    set_json_mode(as_json)
    from pcilu_cli.rehearsal import load_scenario, run
    from pcilu_cli.rehearsal import report
    from pcilu_cli.abi.untrusted import file_component
    if "-" in scenarios:
        # a scenario names its fabric relative to its own file, so stdin has no place to
        # resolve it from
        from pcilu_cli.errors import UsageError
        raise UsageError("rehearse reads scenario files, not stdin ('-'): a scenario's "
                         "fabric path is relative to the scenario file")
    loaded = [load_scenario(p) for p in scenarios]      # all files valid before any runs
    results = []
    for i, sc in enumerate(loaded):
        # the scenario's name comes from its file: one safe file-name component
        k = keep if keep is None or len(loaded) == 1 else \
            f"{keep}/{i:02d}-{file_component(sc.name)}"
        res = run(sc, keep=k, fail_fast=fail_fast)
        results.append(res)
        if not as_json:
            report.render(res, console(), show_log=not no_log)
    if junit:
        from pcilu_cli.state.store import atomic_write
        atomic_write(junit, report.to_junit(results))
    if as_json:
        docs = [report.to_json(r) for r in results]
        print_json(docs[0] if len(docs) == 1 else
                   {"kind": "rehearsals", "passed": all(d["passed"] for d in docs),
                    "results": docs})
    failures = [f for r in results for f in r.failures]
    if failures:
        where = results[[bool(r.failures) for r in results].index(True)].scenario.path
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        click.echo(f"pcilu: error: {where}: {failures[0]}{more}", err=True)
        ctx.exit(ExitCode.EXPECTATION)
