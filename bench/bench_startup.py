# SPDX-License-Identifier: GPL-2.0-only
"""Target 3 — start-up: ``pcilu inspect --json`` of a small blob within 1.3x the wall time of
``python -c "import click"`` (the floor of any click CLI; inspect of a small flex blob needs no
Construct), and, for information, against ``import click, construct``. Row 12 (bench_cli.py)
times the kernel commands' start-up (enumerate, preserve).

Both commands run from the same interpreter, interleaved (one of each per round, after one
untimed warm-up each so the page cache is warm for both), median of >= 11 rounds. pcilu runs as
its console script (``<bin>/pcilu``), which is how users and CI call it. The top imports of the
pcilu run (``-X importtime``, cumulative) are recorded in the JSON so that a regression names
its module.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from lib import PYTHON, REPO, INFO, Row, check, median, pcilu_cmd, run_proc

LIMIT = 1.3


def small_blob() -> Path:
    return REPO / "fixtures" / "golden" / "pci" / "pci_ser_v6_example.bin"


def import_profile(cmd_args: list[str], top: int = 10) -> list[tuple[str, int]]:
    """Cumulative import time (us) of the slowest imports of ``pcilu ARGS`` at the first two
    nesting levels (what pcilu imports and what those import), site's own imports left out."""
    code = "import sys; from pcilu_cli.cli import main; sys.argv[0] = 'pcilu'; main()"
    p = subprocess.run([PYTHON, "-X", "importtime", "-c", code, *cmd_args],
                       capture_output=True, text=True, timeout=60)
    lines = []
    for line in p.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            lines.append((m.group(4), int(m.group(2)), (len(m.group(3)) - 1) // 2))
    # importtime prints children before their parent: attribute each line to its top-level
    # ancestor by scanning backwards
    rows, top_name = [], None
    for name, cum, level in reversed(lines):
        if level == 0:
            top_name = name
        if level <= 1 and top_name not in ("site", "encodings"):
            rows.append((name, cum))
    rows.sort(key=lambda r: -r[1])
    return rows[:top]


def run(workdir: Path, *, quick: bool) -> list[Row]:
    rounds = 5 if quick else 15
    blob = small_blob()
    floor = [PYTHON, "-c", "import click"]
    floor_cc = [PYTHON, "-c", "import click, construct"]
    cli = [*pcilu_cmd(), "inspect", str(blob), "--json"]
    for cmd in (floor, floor_cc, cli):  # warm-up, untimed
        res = run_proc(cmd)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}: {res.stderr[-500:]}")
    t_floor, t_cc, t_cli = [], [], []
    for _ in range(rounds):
        t_floor.append(run_proc(floor).seconds)
        t_cli.append(run_proc(cli).seconds)
        t_cc.append(run_proc(floor_cc).seconds)
    mf, mc = median(t_floor), median(t_cli)
    ratio = median([a / b for a, b in zip(t_cli, t_floor)])
    r_cc = median([a / b for a, b in zip(t_cli, t_cc)])
    top = import_profile(["inspect", str(blob), "--json"])
    heavy = ", ".join(f"{name} {us / 1000:.0f}ms" for name, us in top[:8])
    rows = [
        Row("3 start-up", f"`pcilu inspect --json` small blob / `import click` "
            f"(median of {rounds})", ratio, "x", f"<= {LIMIT:.2f}x", check(ratio, LIMIT),
            f"{mc * 1000:.0f}ms vs {mf * 1000:.0f}ms",
            {"pcilu_s": t_cli, "floor_s": t_floor, "importtime_top_us": top}),
        Row("", "  same / `import click, construct`", r_cc, "x", "", INFO,
            f"{median(t_cc) * 1000:.0f}ms", {"floor_cc_s": t_cc}),
        Row("", "  slowest top-level imports of that run (cumulative)", None, "", "", INFO, heavy),
    ]
    return rows
