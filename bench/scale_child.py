# SPDX-License-Identifier: GPL-2.0-only
"""Child process of targets 2, 4 and 5: one rehearsal cycle on a generated fabric, timed.

``python scale_child.py FABRIC N_PRESERVE [--state DIR] [--no-gc]`` prints one JSON document:
  load     load_fabric(FABRIC)                       } the cycle of target 2
  init     generation 0 boots and enumerates         }  = `pcilu init` + `preserve`
  preserve N_PRESERVE endpoints, spread evenly       }    + `kexec` + `enumerate`,
  kexec    freeze, shutdown, hand over, boot N+1     }    in-process, without the
  enumerate Kernel.report() of generation 1          }    state-file writes
  finish   generation 1 finishes the N_PRESERVE devices (not part of target 2's cycle)
  render   the enumerate document as `enumerate --json` prints it (not part of target 2's
           cycle either; cycle + render + finish is the in-process side of the CLI-cycle ratio)
With --state: the generation-1 state file is then saved to DIR and its size recorded (target 4;
the load is timed by a separate fresh process, state_load_child.py). ``vmhwm_kib`` is this
process's peak RSS (target 5). Missing layers: {"available": false, "missing": "..."}.
"""
from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import adapters as api  # noqa: E402


def vmhwm_kib() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv):
    fabric_path, n_preserve = argv[0], int(argv[1])
    state_dir = argv[argv.index("--state") + 1] if "--state" in argv else None
    out = {"available": True}
    try:
        api.kernel_class()
        if state_dir:
            api.state_api()
    except api.NotAvailable as e:
        print(json.dumps({"available": False, "missing": str(e)}))
        return
    api.warm_up()   # lazy imports must not be charged to the first (smallest) timings
    if "--no-gc" in argv:   # diagnostic: what the cyclic garbage collector costs this cycle
        gc.disable()
    t = {}
    t0 = time.perf_counter()
    fabric = api.load_fabric(fabric_path)
    t["load"] = time.perf_counter() - t0
    n_functions = sum(1 for _ in fabric.functions())

    t0 = time.perf_counter()
    k0 = api.boot(fabric)
    t["init"] = time.perf_counter() - t0
    picks, enumerated0 = api.endpoints(k0, n_preserve)   # untimed: the user's list of BDFs
    gc.collect()
    t0 = time.perf_counter()
    for i, bdf in enumerate(picks):
        api.preserve(k0, bdf, i)
    t["preserve"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    k1 = api.kexec(k0)
    t["kexec"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rep = api.report(k1)
    t["enumerate"] = time.perf_counter() - t0
    t["cycle"] = sum(t[k] for k in ("load", "init", "preserve", "kexec", "enumerate"))
    t0 = time.perf_counter()
    for bdf in picks:
        api.finish(k1, bdf)
    t["finish"] = time.perf_counter() - t0
    # `enumerate --json` prints the document: the cycle as commands renders it (kexec keeps
    # it in the state it writes), so the in-process side of that ratio renders it too
    t0 = time.perf_counter()
    text = api.report_text(rep)
    t["render"] = time.perf_counter() - t0
    out["report_text_bytes"] = len(text)
    del text
    t["cycle_finish"] = t["cycle"] + t["render"] + t["finish"]
    devs = rep.get("devices", [])
    out.update(api=api.api_name(), functions=n_functions, preserved=len(picks), seconds=t, picks=picks,
               enumerated_gen0=enumerated0,
               incoming=sum(1 for d in devs if d.get("incoming") not in (None, False, -1)),
               enumerated=sum(1 for d in devs if d.get("enumerated")),
               report_devices=len(devs), panic=rep.get("panic"))
    if state_dir:
        save, _load = api.state_api()
        path = Path(state_dir) / f"gen1-{n_functions}.state"
        del rep
        gc.collect()
        t0 = time.perf_counter()
        save(k1, path)
        t["save_state"] = time.perf_counter() - t0
        out["state_file"] = str(path)
        out["state_bytes"] = os.path.getsize(path)
    out["vmhwm_kib"] = vmhwm_kib()
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
