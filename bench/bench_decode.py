# SPDX-License-Identifier: GPL-2.0-only
"""Target 1 — decode: ``pcilu inspect --json`` of a 1,000,000-entry ``struct pci_ser`` within
1.3x, in time and in peak memory, of a program that formats each entry directly into the output
(bench/decode_direct.py); and, as before, within 3x of a plain ``struct.iter_unpack`` program
that builds the dicts and ``json.dumps`` them (bench/decode_baseline.py).

The blob: flex layout (v6, pci-v3), max_nr_devices = nr_devices = N, every slot in use (every
entry becomes a dict: the worst case), entry i = {domain i >> 16, bdf i & 0xffff, refcount
1 + i % 3}, so there are no duplicates and no diagnostics.

Measured:
* the real CLI as a subprocess, without ``--profile`` (what users type; detection runs) and with
  ``--profile v6``, against the baseline program as a subprocess (both pay interpreter start-up,
  the file read and writing the JSON to stdout); interleaved, median;
* in a child process, each piece of the CLI against the baseline's two pieces.
The CLI's output is compared byte for byte with the baseline's (a sanity check that the two do
the same work).
"""
from __future__ import annotations

import hashlib
import struct
import tempfile
from pathlib import Path

from lib import (INFO, MISS, PASS, PYTHON, BENCH_DIR, Row, check, median, pcilu_cmd, run_json_child,
                 run_proc)

LIMIT = 3.0
DIRECT_LIMIT = 1.3


def make_blob(n: int, path: Path) -> None:
    body = bytearray(8 + 8 * n)
    struct.pack_into("<II", body, 0, n, n)
    pack = struct.Struct("<IHH").pack_into
    for i in range(n):
        pack(body, 8 + 8 * i, i >> 16, i & 0xFFFF, 1 + i % 3)
    path.write_bytes(body)


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(workdir: Path, *, quick: bool) -> list[Row]:
    n = 100_000 if quick else 1_000_000
    repeats = 1 if quick else 3
    blob = workdir / f"pci_ser_{n}.bin"
    make_blob(n, blob)
    from pcilu_cli.abi.profiles import get_profile
    prof = get_profile("v6")
    base_cmd = [PYTHON, str(BENCH_DIR / "decode_baseline.py"), str(blob), prof.name,
                prof.pci_compatible, "flex"]
    direct_cmd = [PYTHON, str(BENCH_DIR / "decode_direct.py"), str(blob), prof.name,
                  prof.pci_compatible, "flex"]
    cli_auto = [*pcilu_cmd(), "inspect", str(blob), "--json"]
    cli_prof = [*pcilu_cmd(), "inspect", str(blob), "--json", "--profile", "v6"]

    t = {"base": [], "direct": [], "auto": [], "prof": []}
    rss = {}
    peaks = {"direct": [], "auto": []}
    same = {}
    for i in range(repeats):
        for key, cmd in (("base", base_cmd), ("direct", direct_cmd), ("auto", cli_auto),
                         ("prof", cli_prof)):
            if i == 0:  # first round: keep the output to compare it byte for byte
                with tempfile.NamedTemporaryFile(dir=workdir, delete=False) as out:
                    res = run_proc(cmd, stdout=out)
                same[key] = _sha(Path(out.name))
                Path(out.name).unlink()
            else:
                res = run_proc(cmd)
            if res.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}: {res.stderr[-1000:]}")
            t[key].append(res.seconds)
            rss[key] = max(rss.get(key, 0), res.maxrss_kib)
            if key in peaks:
                peaks[key].append(res.maxrss_kib)
    m = {k: median(v) for k, v in t.items()}
    identical = same["auto"] == same["base"] == same["prof"] == same["direct"]
    note_same = ("CLI output identical to the baseline's" if identical
                 else "CLI output DIFFERS from the baseline's (compare bench/decode_baseline.py)")
    rows = []
    r_direct = median([a / b for a, b in zip(t["auto"], t["direct"])])
    rows.append(Row("1 decode", f"CLI `inspect --json` {n:,} entries / direct-formatting "
                    "program: time", r_direct, "x", f"<= {DIRECT_LIMIT:.2f}x",
                    check(r_direct, DIRECT_LIMIT), f"{m['auto']:.2f}s vs {m['direct']:.2f}s; "
                    f"{note_same}", {"seconds": t}))
    r_mem = median([a / b for a, b in zip(peaks["auto"], peaks["direct"])])
    rows.append(Row("1 decode", "  same: peak memory", r_mem, "x", f"<= {DIRECT_LIMIT:.2f}x",
                    check(r_mem, DIRECT_LIMIT), f"{median(peaks['auto']) / 1024:.0f} MiB vs "
                    f"{median(peaks['direct']) / 1024:.0f} MiB", {"maxrss_kib": peaks}))
    r_auto = m["auto"] / m["base"]
    rows.append(Row("1 decode", f"CLI `inspect --json` {n:,} entries / dict-building baseline "
                    "program (subprocesses)", r_auto, "x", f"<= {LIMIT:.2f}x",
                    check(r_auto, LIMIT),
                    f"{m['auto']:.2f}s vs {m['base']:.2f}s; {note_same}",
                    {"seconds": t, "maxrss_kib": rss}))
    r_prof = m["prof"] / m["base"]
    rows.append(Row("1 decode", "  same, with `--profile v6` (no detection)", r_prof, "x",
                    f"<= {LIMIT:.2f}x", check(r_prof, LIMIT), f"{m['prof']:.2f}s"))
    rows.append(Row("", "  peak RSS of `inspect --json` / dict-building baseline",
                    rss["auto"] / 1024, "MiB",
                    "", INFO, f"baseline {rss['base'] / 1024:.0f} MiB"))

    doc, _ = run_json_child("decode_inproc.py", [str(blob), str(repeats)])
    md = doc["median"]
    base = md["baseline_build"] + md["baseline_dumps"]
    pcilu_prof = md["decode"] + md["to_json"] + md["dumps"]
    pcilu_auto = pcilu_prof + md["detect"]
    r_in = pcilu_auto / base
    rows.append(Row("1 decode", "in-process detect+decode+to_json+dumps / iter_unpack loop+dumps",
                    r_in, "x", f"<= {LIMIT:.2f}x", check(r_in, LIMIT),
                    f"{pcilu_auto:.2f}s vs {base:.2f}s"
                    + ("" if doc["identical_output"] else "; JSON text DIFFERS"), doc))
    for key, label in (("detect", "detect_pci_profile (no --profile)"),
                       ("decode", "pci.decode_pci_ser"), ("to_json", "pci.pci_ser_to_json"),
                       ("dumps", "json.dumps")):
        rows.append(Row("", f"  {label}", md[key], "s", "", INFO,
                        f"{md[key] / base:.2f}x of the whole baseline"))
    rows.append(Row("", "  baseline: iter_unpack loop building dicts / its json.dumps",
                    md["baseline_build"], "s", "", INFO, f"dumps {md['baseline_dumps']:.2f}s"))
    return rows


__all__ = ["run", "make_blob", "PASS", "MISS"]
