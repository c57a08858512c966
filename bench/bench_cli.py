# SPDX-License-Identifier: GPL-2.0-only
"""Targets 6-13: what a CI user pays per command — real `pcilu` processes, state files on disk.

Every row is a ratio to a baseline measured in the same run, the two interleaved (A B A B …),
median of the pairwise ratios; memory is the peak RSS of the process (``wait4``). The state
files are made by the CLI itself (`pcilu generate` + `pcilu init`). docs/performance.md says
for each row what is measured and why its baseline is fair.

 6 preserve   one-BDF `pcilu preserve` on a 65,536-function state / `import click, construct`
 7 load       state load in a fresh process / read + parse + decompress of the same file
 8 save       save after a one-device change / the same save from scratch
 9 enumerate  the kernel's enumeration per function / a plain loop of the same config reads
10 export     `pcilu export` peak memory / `pcilu kexec`'s on the same state; its lspci.txt
              writing time / `lspci -F` reading that file
11 fabric     `pcilu fabric show` of a 4,096-function dump / `lspci -F DUMP -vvv`
12 start-up   `pcilu enumerate --json` of a small state / `import click, construct`
13 memory     every CLI command at 262,144 functions: peak RSS < 1 GiB
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from lib import (FAIL, INFO, PYTHON, REPO, WARN, Row, check, median, pcilu_cmd, run_json_child,
                 run_proc)

PRESERVE_LIMIT = 3.0
LOAD_LIMIT = 5.0
SAVE_LIMIT = 0.3
ENUM_LIMIT = 2.0
ENUM_ROUNDS = 7         # rounds of row 9 (1 in --quick)
EXPORT_MEM_LIMIT = 2.0
LSPCI_LIMIT = 1.0
FABRIC_LIMIT = 3.0
ENUM_START_LIMIT = 1.2
RSS_LIMIT_KIB = 1 << 20
SEED = 1

FLOOR_CC = [PYTHON, "-c", "import click, construct"]


class CliFailed(RuntimeError):
    pass


def pcilu(*args, out=subprocess.DEVNULL, timeout=600.0):
    res = run_proc([*pcilu_cmd(), *map(str, args)], stdout=out, timeout=timeout)
    if res.returncode != 0:
        raise CliFailed(f"`pcilu {' '.join(map(str, args))}` exited {res.returncode}: "
                        f"{res.stderr.strip()[-600:]}")
    return res


def paired(a: list[str], b: list[str], rounds: int, *, before_a=None, timeout=600.0):
    """Run A and B in turn ``rounds`` times after one untimed warm-up each; return
    (median A/B of the pairs, A times, B times, A peak KiB, B peak KiB)."""
    ta, tb, ra, rb = [], [], [], []
    for i in range(rounds + 1):
        if before_a is not None:
            before_a()
        x = run_proc(a, timeout=timeout)
        if x.returncode != 0:
            raise CliFailed(f"`{' '.join(a)}` exited {x.returncode}: {x.stderr.strip()[-600:]}")
        y = run_proc(b, timeout=timeout)
        if y.returncode != 0:
            raise CliFailed(f"`{' '.join(b)}` exited {y.returncode}: {y.stderr.strip()[-600:]}")
        if i == 0:
            continue                 # warm-up: page cache, first-run costs
        ta.append(x.seconds)
        tb.append(y.seconds)
        ra.append(x.maxrss_kib)
        rb.append(y.maxrss_kib)
    ratio = median([p / q for p, q in zip(ta, tb)])
    return ratio, ta, tb, ra, rb


def _row(target, figure, value, limit, note, details=None, quick=False, unit="x"):
    status = INFO if quick else check(value, limit)
    return Row(target, figure, value, unit, f"<= {limit:.2f}x" if unit == "x" else str(limit),
               status, note, details or {})


def endpoints_of(state: Path, k: int) -> list[str]:
    """``k`` endpoint BDFs spread evenly over what the state's kernel enumerated."""
    import json
    import tempfile
    with tempfile.TemporaryFile() as f:
        pcilu("enumerate", state, "--json", out=f)
        f.seek(0)
        devs = json.loads(f.read())["devices"]
    eps = [d["bdf"] for d in devs if d.get("enumerated") and d.get("kind") in ("endpoint", "pf")]
    if k >= len(eps):
        return eps
    step = len(eps) / k
    return [eps[int(i * step)] for i in range(k)]


def run(workdir: Path, *, quick: bool) -> list[Row]:
    work = workdir / "cli"
    work.mkdir(exist_ok=True)
    n = 1024 if quick else 65536
    big = 4096 if quick else 262144
    rounds = 1 if quick else 5
    rows: list[Row] = []

    fab = work / f"tree-{n}.fab"
    pcilu("generate", "-n", n, "--seed", SEED, "-o", fab)
    s0 = work / f"tree-{n}-gen0.state"
    pcilu("init", fab, "-o", s0)
    picks = endpoints_of(s0, 2)
    bdf = picks[-1]

    # 6: one-BDF preserve on the big state, a fresh copy of generation 0 each time
    tmp = work / "preserve.state"

    def fresh():
        shutil.copyfile(s0, tmp)
    ratio, ta, tb, _ra, _rb = paired([*pcilu_cmd(), "preserve", str(tmp), bdf], FLOOR_CC,
                                     rounds, before_a=fresh)
    rows.append(_row("6 preserve", f"one-BDF `pcilu preserve` on a {n:,}-function state / "
                     "`import click, construct`", ratio, PRESERVE_LIMIT,
                     f"{median(ta):.2f}s vs {median(tb) * 1000:.0f}ms (medians of {rounds})",
                     {"pcilu_s": ta, "floor_s": tb}, quick))

    # 7: state load in a fresh process / read + parse + decompress
    s0p = work / "preserved.state"
    fresh()
    pcilu("preserve", tmp, bdf)
    shutil.copyfile(tmp, s0p)
    loads, bases = [], []
    for _ in range(1 if quick else 3):
        loads.append(run_json_child("state_load_child.py", [str(s0p)])[0])
        bases.append(run_json_child("state_read_baseline.py", [str(s0p)])[0])
    r_load = median([x["load"] / y["load"] for x, y in zip(loads, bases)])
    rows.append(_row("7 load", f"state load, fresh process ({n:,} functions) / read + parse + "
                     "decompress of the same file", r_load, LOAD_LIMIT,
                     f"{median([x['load'] for x in loads]):.3f}s vs "
                     f"{median([y['load'] for y in bases]):.3f}s; + "
                     f"{median([x['import'] for x in loads]):.3f}s importing the state layer; "
                     f"{s0p.stat().st_size:,} bytes", {"load": loads, "baseline": bases},
                     quick))

    # 8: save after a one-device change / the same save from scratch
    doc, _ = run_json_child("save_child.py", [str(s0), picks[0], str(work),
                                              "1" if quick else "3"])
    r_save = median([x / y for x, y in zip(doc["reuse"], doc["scratch"])])
    rows.append(_row("8 save", "state save after a one-device change / the same save from "
                     "scratch", r_save, SAVE_LIMIT,
                     f"{median(doc['reuse']):.3f}s vs {median(doc['scratch']):.3f}s; files "
                     + ("identical" if doc["identical"] else "DIFFER"), doc, quick))

    # 9: enumeration per function / a plain loop of the same config reads (single rounds
    # range ~1.5x-2.9x on a shared 2-core machine: the median of ENUM_ROUNDS)
    doc, _ = run_json_child("enum_child.py", [str(fab), "1" if quick else str(ENUM_ROUNDS)])
    r_enum = median([x / y for x, y in zip(doc["enumerate"], doc["baseline"])])
    rows.append(_row("9 enumerate", f"enumeration per function ({doc['functions']:,}) / a plain "
                     "loop doing the same config reads", r_enum, ENUM_LIMIT,
                     f"{doc['per_function_us']:.1f}us vs {doc['baseline_per_function_us']:.1f}us "
                     f"per function; {doc['reads_per_function']:.1f} config reads per function; "
                     f"median of {len(doc['enumerate'])} interleaved round(s)",
                     doc, quick))

    rows += export_rows(work, quick)
    rows += fabric_show_rows(work, quick)
    rows += small_startup_rows(work, quick)
    rows += shapes_rows(work, quick)
    rows += memory_rows(work, big, quick)
    return rows


def export_rows(work: Path, quick: bool) -> list[Row]:
    """10: export streaming. Measured at 4,096 functions: the lspci.txt of 65,536 functions is
    ~890 MB (4 KiB of config space per function in lspci -xxxx form), which `lspci -F` alone
    takes minutes to read on this machine; the ratios do not depend on the size."""
    n = 256 if quick else 4096
    fab = work / f"tree-{n}.fab"
    pcilu("generate", "-n", n, "--seed", SEED, "-o", fab)
    s0 = work / f"tree-{n}-gen0.state"
    pcilu("init", fab, "-o", s0)
    out = work / "export"
    rows = []
    t_exp, t_kx, r_exp, r_kx = [], [], [], []
    for i in range(1 if quick else 3):
        shutil.rmtree(out, ignore_errors=True)
        e = pcilu("export", s0, "-o", out)
        k = pcilu("kexec", s0, "-o", work / "export-next.state")
        t_exp.append(e.seconds)
        t_kx.append(k.seconds)
        r_exp.append(e.maxrss_kib)
        r_kx.append(k.maxrss_kib)
    ratio = median([a / b for a, b in zip(r_exp, r_kx)])
    rows.append(_row("10 export", f"`pcilu export` peak memory / `pcilu kexec`'s, same "
                     f"{n:,}-function state", ratio, EXPORT_MEM_LIMIT,
                     f"{median(r_exp) / 1024:.0f} MiB vs {median(r_kx) / 1024:.0f} MiB; export "
                     f"{median(t_exp):.2f}s, kexec {median(t_kx):.2f}s",
                     {"export_kib": r_exp, "kexec_kib": r_kx}, quick))
    lspci = shutil.which("lspci")
    txt = out / "lspci.txt"
    if lspci is None or not txt.exists():
        rows.append(Row("10 export", "`export`'s lspci.txt writing / `lspci -F` reading it",
                        None, "", f"<= {LSPCI_LIMIT:.2f}x", "SKIP",
                        "not available: lspci (pciutils)" if lspci is None
                        else "export wrote no lspci.txt"))
        return rows
    # the lspci.txt part of export alone, in a child: writing the dump of the loaded state
    w, rd = [], []
    for _ in range(1 if quick else 3):
        doc, _ = run_json_child("lspci_write_child.py", [str(s0), str(work / "w-lspci.txt")])
        w.append(doc["write"])
        rd.append(run_proc([lspci, "-F", str(txt)]).seconds)
    ratio = median([a / b for a, b in zip(w, rd)])
    rows.append(_row("10 export", "`export`'s lspci.txt writing time / `lspci -F` reading that "
                     "file", ratio, LSPCI_LIMIT,
                     f"{median(w):.2f}s vs {median(rd):.2f}s; {txt.stat().st_size:,} bytes",
                     {"write_s": w, "lspci_s": rd}, quick))
    return rows


def fabric_show_rows(work: Path, quick: bool) -> list[Row]:
    """11: `pcilu fabric show` of a dump / `lspci -F DUMP -vvv` (time and memory)."""
    lspci = shutil.which("lspci")
    n = 256 if quick else 4096
    if lspci is None:
        return [Row("11 fabric", f"`pcilu fabric show` {n:,}-function dump / `lspci -F -vvv`",
                    None, "", f"<= {FABRIC_LIMIT:.2f}x", "SKIP",
                    "not available: lspci (pciutils)")]
    dump = work / f"tree-{n}.txt"
    pcilu("generate", "-n", n, "--seed", SEED, "-o", dump)
    ratio, ta, tb, ra, rb = paired([*pcilu_cmd(), "fabric", "show", str(dump)],
                                   [lspci, "-F", str(dump), "-vvv"], 1 if quick else 3)
    mem = median([a / b for a, b in zip(ra, rb)])
    return [
        _row("11 fabric", f"`pcilu fabric show` of a {n:,}-function dump / `lspci -F DUMP "
             "-vvv`: time", ratio, FABRIC_LIMIT,
             f"{median(ta):.2f}s vs {median(tb):.2f}s", {"pcilu_s": ta, "lspci_s": tb}, quick),
        _row("11 fabric", "  same: peak memory", mem, FABRIC_LIMIT,
             f"{median(ra) / 1024:.0f} MiB vs {median(rb) / 1024:.0f} MiB",
             {"pcilu_kib": ra, "lspci_kib": rb}, quick),
    ]


def small_startup_rows(work: Path, quick: bool) -> list[Row]:
    """12: start-up of the kernel commands on a small state (what every CI step pays)."""
    rounds = 1 if quick else 11
    small = work / "small-gen0.state"
    pcilu("init", REPO / "fixtures" / "fabrics" / "qemu-virtio-net.yaml", "-o", small)
    ratio, ta, tb, _, _ = paired([*pcilu_cmd(), "enumerate", str(small), "--json"], FLOOR_CC,
                                 rounds)
    rows = [_row("12 start-up", f"`pcilu enumerate --json` small state / `import click, "
                 f"construct` (median of {rounds})", ratio, ENUM_START_LIMIT,
                 f"{median(ta) * 1000:.0f}ms vs {median(tb) * 1000:.0f}ms",
                 {"pcilu_s": ta, "floor_s": tb}, quick)]
    bdf = endpoints_of(small, 1)[0]
    tmp = work / "small-preserve.state"
    ratio, ta, tb, _, _ = paired([*pcilu_cmd(), "preserve", str(tmp), bdf], FLOOR_CC, rounds,
                                 before_a=lambda: shutil.copyfile(small, tmp))
    rows.append(Row("", "  `pcilu preserve` one BDF, small state / `import click, construct`",
                    ratio, "x", "", INFO, f"{median(ta) * 1000:.0f}ms vs "
                    f"{median(tb) * 1000:.0f}ms", {"pcilu_s": ta, "floor_s": tb}))
    return rows


def shapes_rows(work: Path, quick: bool) -> list[Row]:
    """Supporting figures: the realistic host (SR-IOV + NVMe) and one full domain (ARI), as
    the CLI commands a user runs."""
    rows = []
    for shape, n in ((("ari", 256),) if quick else (("sriov", 4096), ("ari", 65536))):
        fab = work / f"{shape}-{n}.fab"
        import json
        import tempfile
        with tempfile.TemporaryFile() as f:
            pcilu("generate", "-n", n, "--shape", shape, "--seed", SEED, "-o", fab, "--json",
                  out=f)
            f.seek(0)
            summary = json.loads(f.read())
        s0, s1 = work / f"{shape}-gen0.state", work / f"{shape}-gen1.state"
        secs = {}
        secs["init"] = pcilu("init", fab, "-o", s0).seconds
        picks = endpoints_of(s0, 100)
        secs["preserve"] = pcilu("preserve", s0, *picks).seconds
        secs["kexec"] = pcilu("kexec", s0, "-o", s1).seconds
        secs["enumerate"] = pcilu("enumerate", s1, "--json").seconds
        secs["finish"] = pcilu("finish", s1, *picks).seconds
        rows.append(Row("", f"  {shape} shape: {summary['functions']:,} functions in "
                        f"{summary['domains']} domain(s): init+preserve {len(picks)}+kexec+"
                        "enumerate+finish as CLI commands", sum(secs.values()), "s", "", INFO,
                        "seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in secs.items()),
                        {"summary": summary, "seconds": secs}))
    return rows


def memory_rows(work: Path, n: int, quick: bool) -> list[Row]:
    """13: the peak RSS of every CLI command a user runs at ``n`` functions."""
    fab = work / f"tree-{n}.fab"
    s0, s1 = work / f"tree-{n}-gen0.state", work / f"tree-{n}-gen1.state"
    peaks = {}
    try:
        peaks["generate"] = pcilu("generate", "-n", n, "--seed", SEED, "-o", fab).maxrss_kib
        peaks["fabric show"] = pcilu("fabric", "show", fab).maxrss_kib
        peaks["init"] = pcilu("init", fab, "-o", s0).maxrss_kib
        picks = endpoints_of(s0, 100)
        peaks["preserve"] = pcilu("preserve", s0, *picks).maxrss_kib
        peaks["kexec"] = pcilu("kexec", s0, "-o", s1).maxrss_kib
        peaks["enumerate --json"] = pcilu("enumerate", s1, "--json").maxrss_kib
        peaks["inspect --json"] = pcilu("inspect", s1, "--json").maxrss_kib
        peaks["finish"] = pcilu("finish", s1, *picks).maxrss_kib
    except CliFailed as e:
        return [Row("13 memory", f"every CLI command at {n:,} functions: peak RSS", None, "",
                    "< 1024 MiB", FAIL, str(e))]
    worst = max(peaks, key=peaks.get)
    return [Row("13 memory", f"every CLI command at {n:,} functions: peak RSS (worst: "
                f"{worst})", peaks[worst] / 1024, "MiB", "< 1024 MiB",
                INFO if quick else check(peaks[worst], RSS_LIMIT_KIB),
                ", ".join(f"{k} {v / 1024:.0f}" for k, v in peaks.items()) + " MiB; export is "
                "measured at 4,096 functions (row 10)", {"peak_kib": peaks})]


__all__ = ["run", "WARN"]
