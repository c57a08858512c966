# SPDX-License-Identifier: GPL-2.0-only
"""Is pcilu's compiled bytecode there? Every start-up figure depends on it.

Python reads ``__pycache__/*.pyc`` (or ``$PYTHONPYCACHEPREFIX``) when it matches the source;
without it every module of pcilu is compiled again at every start. An editable install
(``pip install -e``, what `make setup` does) never compiles at install time, and with
``PYTHONDONTWRITEBYTECODE=1`` in the environment Python never writes the result either — so
every `pcilu` command then pays the compilation (about +200 ms on a 2-core machine). A regular
install (wheel) compiles at install time.

:func:`prepare` records what it found; when bytecode is missing it measures the start-up of
`pcilu inspect --json` (small blob) that way, warns, and (unless told not to) compiles pcilu as
an install would (``python -m compileall``, into the same place Python looks), so the other
rows measure what an installed pcilu costs. The report says which was the case.
"""
from __future__ import annotations

import importlib.util
import os
import struct
import subprocess
from pathlib import Path

from lib import INFO, PYTHON, REPO, Row, median, pcilu_cmd, run_proc


def package_dir() -> Path:
    spec = importlib.util.find_spec("pcilu_cli")
    return Path(spec.origin).parent if spec and spec.origin else REPO / "pcilu_cli"


def status(pkg: Path) -> tuple[int, int]:
    """(modules whose bytecode is present and current, modules)."""
    ok = total = 0
    for src in pkg.rglob("*.py"):
        total += 1
        try:
            pyc = importlib.util.cache_from_source(str(src))
            with open(pyc, "rb") as f:
                head = f.read(16)
            st = os.stat(src)
        except (OSError, NotImplementedError, ValueError):
            continue
        flags, mtime, size = struct.unpack_from("<III", head, 4)
        if flags & 1 or (mtime == int(st.st_mtime) & 0xFFFFFFFF and size == st.st_size
                         & 0xFFFFFFFF):
            ok += 1
    return ok, total


def prepare(*, compile_missing: bool, quick: bool) -> tuple[dict, list[Row]]:
    pkg = package_dir()
    ok, total = status(pkg)
    env = os.environ.get("PYTHONDONTWRITEBYTECODE")
    doc = {"present_at_start": ok, "modules": total, "PYTHONDONTWRITEBYTECODE": env,
           "compiled_by_bench": False}
    rows: list[Row] = []
    if ok == total:
        doc["summary"] = f"present ({ok}/{total} modules)"
        return doc, rows
    blob = REPO / "fixtures" / "golden" / "pci" / "pci_ser_v6_example.bin"
    cmd = [*pcilu_cmd(), "inspect", str(blob), "--json"]
    cold = [run_proc(cmd).seconds for _ in range(3 if quick else 7)]
    doc["summary"] = f"ABSENT at start ({ok}/{total} modules)"
    doc["warning"] = (f"pcilu's bytecode was missing for {total - ok} of {total} modules"
                      + (" and PYTHONDONTWRITEBYTECODE is set" if env else "")
                      + f": every pcilu command recompiles them (`pcilu inspect --json` small "
                      f"blob: {median(cold) * 1000:.0f} ms so). ")
    if compile_missing:
        subprocess.run([PYTHON, "-m", "compileall", "-q", str(pkg)], check=False,
                       stdout=subprocess.DEVNULL, timeout=300)
        ok2, _ = status(pkg)
        doc["compiled_by_bench"] = True
        doc["present_after_compile"] = ok2
        warm = [run_proc(cmd).seconds for _ in range(3 if quick else 7)]
        doc["summary"] += f"; compiled by the bench before measuring ({ok2}/{total})"
        doc["warning"] += (f"The bench compiled it first (as an install does), so the rows "
                           f"below measure an installed pcilu ({median(warm) * 1000:.0f} ms "
                           "for the same command); an editable install with "
                           "PYTHONDONTWRITEBYTECODE pays the difference at every command.")
        rows.append(Row("", "  start-up without bytecode: `pcilu inspect --json` small blob",
                        median(cold), "s", "", INFO,
                        f"{median(warm) * 1000:.0f} ms with bytecode (after compiling)",
                        {"cold_s": cold, "warm_s": warm}))
    else:
        doc["warning"] += "Measured as found (--no-compile)."
    return doc, rows
