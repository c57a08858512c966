# SPDX-License-Identifier: GPL-2.0-only
"""Whole-suite rehearsals: scenario files and directories in, one run and one document out
(``pcilu rehearse`` and :func:`pcilu.rehearse`)."""
from __future__ import annotations

from pathlib import Path

from pcilu_cli.errors import BadInput, UsageError


def scenario_files(paths) -> list[str]:
    """Files as given; a directory stands for its ``*.yaml``/``*.yml`` files, sorted."""
    out = []
    for p in paths:
        p = str(p)
        if p == "-":
            # a scenario names its fabric relative to its own file: stdin has no place
            raise UsageError("rehearse reads scenario files, not stdin ('-'): a scenario's "
                             "fabric path is relative to the scenario file")
        path = Path(p)
        if path.is_dir():
            found = sorted(str(f) for f in path.iterdir()
                           if f.suffix in (".yaml", ".yml") and f.is_file())
            if not found:
                raise BadInput("no scenario files (*.yaml) in this directory", file=p)
            out.extend(found)
        else:
            out.append(p)
    return out


def run_all(paths, *, fail_fast=False, keep=None, each=None) -> list:
    """Load every scenario first (all valid before any runs: exit 3 names the bad one), then
    run them; ``each(result)`` is called as each finishes (the CLI draws it)."""
    from pcilu_cli.rehearsal import load_scenario, run
    loaded = [load_scenario(p) for p in scenario_files(paths)]
    results = []
    for i, sc in enumerate(loaded):
        # the scenario's name comes from its file: one safe file-name component
        from pcilu_cli.abi.untrusted import file_component
        k = keep if keep is None or len(loaded) == 1 else \
            f"{keep}/{i:02d}-{file_component(sc.name)}"
        res = run(sc, keep=k, fail_fast=fail_fast)
        results.append(res)
        if each is not None:
            each(res)
    return results


def document(results) -> dict:
    """One scenario's ``rehearsal`` document, or ``rehearsals`` for several (with the
    summary counts)."""
    from pcilu_cli.rehearsal import report
    from pcilu_cli.rehearsal.ktap import summary
    docs = [report.to_json(r) for r in results]
    if len(docs) == 1:
        return docs[0]
    return {"kind": "rehearsals", "passed": all(d["passed"] for d in docs),
            "scenarios": len(docs), "scenarios_passed": sum(1 for d in docs if d["passed"]),
            "scenarios_failed": sum(1 for d in docs if not d["passed"]),
            "summary": summary(results), "results": docs}


def rehearse(*paths, fail_fast=False, keep=None) -> dict:
    if not paths:
        raise UsageError("rehearse needs scenario files or directories")
    return document(run_all(paths, fail_fast=fail_fast, keep=keep))
