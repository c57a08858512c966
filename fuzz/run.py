# SPDX-License-Identifier: GPL-2.0-only
"""`make fuzz`: run every atheris harness for a share of FUZZ_SECONDS and report crashes.

    python fuzz/run.py --seconds 600            # all harnesses, time split evenly
    python fuzz/run.py --seconds 60 --only inspect pci_ser
    python fuzz/run.py --runs 2000              # bounded by executions instead (CI)

Each harness reads its seed corpus from fixtures/fuzz-corpus/<name>/ (read-only) and writes
new interesting inputs to build/fuzz/corpus/<name>/, crash reproducers to build/fuzz/crashes/.
A crash is replayed with `python fuzz/fuzz_<name>.py build/fuzz/crashes/<name>-crash-<sha1>`.
Exit status: 0 if no harness crashed, 1 otherwise. Harnesses whose commands are not
implemented yet are skipped with a note.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import targetlib as T  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", 600)),
                    help="total wall-clock budget, split across harnesses (default 600)")
    ap.add_argument("--runs", type=int, default=None, help="bound each harness by executions")
    ap.add_argument("--only", nargs="*", default=None, help="harness names (default: all)")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "fuzz"))
    args = ap.parse_args(argv)
    names = args.only or sorted(T.HARNESSES)
    unknown = [n for n in names if n not in T.HARNESSES]
    if unknown:
        ap.error(f"unknown harness {unknown}; known: {sorted(T.HARNESSES)}")
    share = max(5, args.seconds // len(names))
    crashes_dir = os.path.join(args.out, "crashes")
    os.makedirs(crashes_dir, exist_ok=True)
    failed, summary = [], []
    for name in names:
        seed_dir = os.path.join(T.CORPUS, name)
        work = os.path.join(args.out, "corpus", name)
        os.makedirs(work, exist_ok=True)
        cmd = [sys.executable, os.path.join(HERE, f"fuzz_{name}.py"), work]
        if os.path.isdir(seed_dir):
            cmd.append(seed_dir)
        cmd += [f"-artifact_prefix={os.path.join(crashes_dir, name)}-", "-timeout=20",
                "-rss_limit_mb=2048", "-print_final_stats=1"]
        cmd.append(f"-atheris_runs={args.runs}" if args.runs else f"-max_total_time={share}")
        print(f"== fuzz_{name}: {'%d runs' % args.runs if args.runs else '%d s' % share}",
              flush=True)
        t0 = time.monotonic()
        r = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, errors="replace")
        took = time.monotonic() - t0
        tail = r.stdout.strip().splitlines()[-25:]
        if r.returncode != 0 and "is not implemented yet" in r.stdout:
            summary.append(f"fuzz_{name}: skipped ({tail[-1] if tail else ''})")
            continue
        execs = next((ln.split()[-1] if ln.startswith("stat::") else ln.split()[1]
                      for ln in reversed(tail)
                      if ln.startswith(("stat::number_of_executed_units", "Done "))), "?")
        if r.returncode != 0:
            failed.append(name)
            print("\n".join(tail))
            summary.append(f"fuzz_{name}: CRASH after {took:.0f} s (exit {r.returncode}); "
                           f"reproducer in {crashes_dir}")
        else:
            summary.append(f"fuzz_{name}: ok, {execs} inputs in {took:.0f} s")
    print("\n".join(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
