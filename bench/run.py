#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""pcilu's benchmark suite (``make bench``): prints a table of every figure beside its target
with PASS / MISS / SKIP, and writes the same as JSON to ``bench/results/latest.json``.

    python bench/run.py            the full suite (targets 1-5; about 3-4 minutes on 2 cores)
    python bench/run.py --quick    a small smoke run: same code paths, small sizes; only the
                                   fact that it runs is meaningful, never its timings
    python bench/run.py --only decode,startup   a subset (decode, startup, scale, cli)
    python bench/run.py --no-compile  measure with pcilu's bytecode as found

Targets (numbers for a 2-core machine; docs/performance.md says how each is measured):
  1 decode   `inspect --json` of a 1,000,000-entry pci_ser <= 1.3x a direct-formatting program
             in time and memory; <= 3x the dict-building iter_unpack program
  2 scale    init + preserve 1,000 + kexec + enumerate of 65,536 functions < 2 s in process;
             per-function growth 4,096 -> 262,144 <= 1.3x; the cycle as CLI commands <= 2x
             the same cycle in one process
  3 start-up `pcilu inspect --json` small blob <= 1.3x `python -c "import click"`
  4 state    65,536-function state file < 20 MB on disk, loaded in < 0.5 s
  5 memory   peak RSS of the 262,144-function cycle < 1 GiB
  6-13       per-command costs as real CLI processes (bench_cli.py): preserve, load, save,
             enumeration, export, fabric show, kernel-command start-up, memory at 262,144
A target whose layer does not exist yet is a SKIP row saying what is missing. Exit status: 0
when everything ran (a MISS is a finding, not a crash), 1 if a benchmark itself failed.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lib import BENCH_DIR, FAIL, SKIP, Row, machine_info  # noqa: E402

SECTIONS = ("decode", "startup", "scale", "cli", "hostile")


def _section(name):
    if name == "decode":
        import bench_decode as m
    elif name == "startup":
        import bench_startup as m
    elif name == "hostile":
        import bench_hostile as m
    elif name == "scale":
        import bench_scale as m
    else:
        import bench_cli as m
    return m


def fmt_value(r: Row) -> str:
    if r.value is None:
        return ""
    if r.unit == "x":
        return f"{r.value:.2f}x"
    if r.unit == "s":
        return f"{r.value:.3f} s"
    if r.unit == "%":
        return f"{r.value:.1f}%"
    if r.unit in ("MiB", "MB"):
        return f"{r.value:.1f} {r.unit}"
    return f"{r.value:.3g} {r.unit}".strip()


def render(rows: list[Row], machine: dict, quick: bool, elapsed: float) -> str:
    head = ("target", "figure", "value", "target value", "result")
    body = [(r.target, r.figure, fmt_value(r), r.limit, r.status) for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(5)]
    widths[1] = min(widths[1], 78)

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(c) for c in body]
    notes = [f"- {r.target or '  '} {r.figure.strip()}: {r.note}" for r in rows if r.note]
    m = machine
    bc = m.get("bytecode") or {}
    out.insert(0, f"pcilu benchmarks{' (--quick: timings not meaningful)' if quick else ''} — "
                  f"{m['cpu'] or 'unknown CPU'}, {m['cores']} cores, {m['mem_gib']} GiB, "
                  f"{m['os']}, Python {m['python']}, commit {m['commit']}, load at start "
                  f"{m['loadavg_at_start'][0]:.2f}, at end {m.get('loadavg_at_end', [0])[0]:.2f}"
                  f", suite {elapsed:.0f} s; bytecode: {bc.get('summary', '?')}\n"
                  + (f"\nWARNING: {bc['warning']}\n" if bc.get("warning") else ""))
    return "\n".join(out + ["", "Notes:"] + notes)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes; a smoke run")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated subset of {', '.join(SECTIONS)}")
    ap.add_argument("--output", default=str(BENCH_DIR / "results" / "latest.json"),
                    help="where to write the JSON results")
    ap.add_argument("--keep", action="store_true", help="keep the generated files (printed)")
    ap.add_argument("--no-compile", action="store_true",
                    help="measure with pcilu's bytecode as found (default: when it is missing, "
                         "measure that start-up once, then compile it as an install would)")
    args = ap.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown section(s): {', '.join(unknown)}")

    machine = machine_info()
    t_start = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="pcilu-bench-"))
    rows: list[Row] = []
    failed = False
    import bytecode
    bc, bc_rows = bytecode.prepare(compile_missing=not args.no_compile, quick=args.quick)
    machine["bytecode"] = bc
    rows += bc_rows
    try:
        for name in wanted:
            t0 = time.perf_counter()
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            try:
                rows += _section(name).run(workdir, quick=args.quick)
            except Exception as e:  # noqa: BLE001 - one broken benchmark must not hide the others
                failed = True
                traceback.print_exc()
                rows.append(Row(name, f"{name} benchmark crashed", None, "", "", FAIL,
                                f"{type(e).__name__}: {str(e).strip()[:300]}"))
            print(f"[bench] {name} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr,
                  flush=True)
    finally:
        if args.keep:
            print(f"[bench] generated files kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.quick:  # small sizes: a PASS or MISS would mean nothing
        for r in rows:
            if r.status in ("PASS", "MISS"):
                r.note = f"(quick run, would be {r.status}) {r.note}".strip()
                r.status = "INFO"
    elapsed = time.perf_counter() - t_start
    import os
    machine["loadavg_at_end"] = list(os.getloadavg())
    print(render(rows, machine, args.quick, elapsed))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"kind": "pcilu-bench", "schema": 1, "quick": args.quick, "sections": wanted,
           "elapsed_s": round(elapsed, 2), "machine": machine,
           "summary": {s: sum(1 for r in rows if r.status == s)
                       for s in ("PASS", "MISS", SKIP, FAIL, "WARN")},
           "rows": [r.to_json() for r in rows]}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(out)
    print(f"\n[bench] wrote {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
