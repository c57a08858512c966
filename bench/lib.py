# SPDX-License-Identifier: GPL-2.0-only
"""Shared helpers of the benchmark suite: timing, child processes with their peak RSS, the
result rows and the machine description.

Every figure is taken in a child process where it matters (a fresh interpreter, so imports,
caches and the heap of one benchmark never flatter or burden another), and every ratio is taken
from runs interleaved in one session, because this 2-core machine is shared and noisy.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = sys.executable


# ---- result rows -------------------------------------------------------------------------------

PASS, MISS, SKIP, INFO, FAIL, WARN = "PASS", "MISS", "SKIP", "INFO", "FAIL", "WARN"
# WARN: the figure was measured but the workload is not what the target means (see its note)


@dataclass
class Row:
    """One line of the table: a figure beside its target."""
    target: str                 # "1 decode", "2 scale", ... ; "" for supporting figures
    figure: str                 # what was measured, in words
    value: float | None = None
    unit: str = ""
    limit: str = ""             # the target as text, e.g. "<= 3.00x"
    status: str = INFO
    note: str = ""
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def check(value: float, limit: float, *, lower_is_better: bool = True) -> str:
    ok = value <= limit if lower_is_better else value >= limit
    return PASS if ok else MISS


def skip(target: str, figure: str, what: str, limit: str = "") -> Row:
    return Row(target, figure, None, "", limit, SKIP, f"not available yet: {what}")


# ---- timing ------------------------------------------------------------------------------------

@dataclass
class ProcResult:
    seconds: float
    maxrss_kib: int
    returncode: int
    stderr: str


GNU_TIME = "/usr/bin/time"


def run_proc(cmd: list[str], *, stdout=subprocess.DEVNULL, env=None, cwd=None,
             timeout: float = 600.0) -> ProcResult:
    """Run ``cmd`` once; wall time from fork to reaping, and the command's own peak RSS.

    The peak RSS of a process forked from this one starts at this process's RSS (Linux keeps
    the larger of the two across exec), so a small command run from a bench that holds 90 MiB
    would "peak" at 90 MiB. The command is therefore started by GNU time (a small process),
    which reports the peak of the command it forked (``%M``); without GNU time, ``os.wait4``'s
    figure of the direct child is used (an upper bound).
    """
    rss_file = None
    if os.path.exists(GNU_TIME):
        fd, rss_file = tempfile.mkstemp(prefix="pcilu-bench-rss-")
        os.close(fd)
        cmd = [GNU_TIME, "-f", "%M", "-o", rss_file, "--", *cmd]
    try:
        res = _run_proc(cmd, stdout=stdout, env=env, cwd=cwd, timeout=timeout)
        if rss_file is not None:
            text = open(rss_file).read().split()
            if text and text[-1].isdigit():
                res.maxrss_kib = int(text[-1])
            # GNU time reports the command's exit status as its own
        return res
    finally:
        if rss_file is not None:
            os.unlink(rss_file)


def _run_proc(cmd, *, stdout, env, cwd, timeout) -> ProcResult:
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err,
                             env=env, cwd=cwd)
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.0005)
        dt = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    return ProcResult(dt, ru.ru_maxrss, p.returncode, text)


def run_json_child(script: str, args: list[str], *, timeout: float = 600.0) -> tuple[dict, ProcResult]:
    """Run ``bench/<script>`` in a fresh interpreter; it prints one JSON document on stdout."""
    with tempfile.TemporaryFile() as out:
        res = run_proc([PYTHON, str(BENCH_DIR / script), *args], stdout=out, timeout=timeout)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if res.returncode != 0:
        raise ChildFailed(f"{script} {' '.join(args)} exited {res.returncode}: "
                          f"{res.stderr.strip()[-2000:]}")
    return json.loads(text), res


class ChildFailed(RuntimeError):
    pass


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pcilu_cmd() -> list[str]:
    """How a user runs pcilu: the console script beside this interpreter (not a pyenv shim,
    whose bash start-up would be charged to pcilu), else ``python -m pcilu_cli``."""
    script = Path(PYTHON).parent / "pcilu"
    if script.exists():
        return [str(script)]
    return [PYTHON, "-m", "pcilu_cli"]


# ---- machine -----------------------------------------------------------------------------------

def machine_info() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    versions = {}
    for mod in ("click", "construct", "rich"):
        try:
            from importlib.metadata import version
            versions[mod] = version(mod)
        except Exception:  # noqa: BLE001 - informative only
            versions[mod] = None
    commit = None
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip() or None
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        if commit and dirty:
            commit += "+dirty"
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_kib / 2**20, 1) if mem_kib else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(), "implementation": platform.python_implementation(),
        "packages": versions, "commit": commit,
        "loadavg_at_start": list(os.getloadavg()),
    }
