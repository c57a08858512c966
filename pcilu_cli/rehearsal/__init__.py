# SPDX-License-Identifier: GPL-2.0-only
"""Rehearsals: scenario files that drive generations in memory and check expectations.

Sits above ``pcilu_cli.state`` (it drives :class:`~pcilu_cli.state.Machine`) and below the CLI.

    sc  = load_scenario(path)              Scenario (raises BadInput file:line, exit 3)
    res = run(sc, keep=None, fail_fast=False)   RunResult (.passed, .failures, .steps, .counts())
    report.to_json(res) / report.to_junit([res, ...]) / report.render(res)
    diff.diff_files(a, b, profile=None) -> {"kind": "diff", "a", "b", "changed", "changes"}

Modules: yamlmarks (YAML with line numbers), scenario (format + validation), expect
(expectation engine), runner (steps on a Machine), report (JSON, JUnit, human), diff.
The file format is documented in docs/scenarios.md.
"""
from __future__ import annotations

from pcilu_cli.rehearsal.scenario import Scenario, Step, Expectation, load_scenario  # noqa: F401
from pcilu_cli.rehearsal.scenario import load_scenario_text  # noqa: F401


def run(scenario, *, keep=None, fail_fast=False):
    from pcilu_cli.rehearsal.runner import run as _run
    return _run(scenario, keep=keep, fail_fast=fail_fast)


__all__ = ["Scenario", "Step", "Expectation", "load_scenario", "load_scenario_text", "run"]
