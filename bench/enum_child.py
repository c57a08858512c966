# SPDX-License-Identifier: GPL-2.0-only
"""Child process of the enumeration row: the kernel's enumeration per function, against a plain
loop doing the same config reads.

``python enum_child.py FABRIC ROUNDS`` prints one JSON document. Per round, on a freshly loaded
fabric (untimed): ``Kernel.boot`` (pci_scan_root_bus of every root, then the VFs) is timed;
then the baseline, on another fresh copy: for every function the kernel enumerated, exactly
the config reads the kernel made of that function in that boot, in order, each as one config
cycle of the fabric (``Fabric.config_read(domain, bus, devfn, offset, width)``: address decode
+ register read — what a config read costs in this model), in a plain ``for`` loop. The reads are recorded once, in an
untimed boot with ``ConfigSpace.read`` wrapped (reads made by the fabric's own routing are not
counted: the baseline does its own routing). ``reads_per_function`` is reported, so a change
that reads less shows up there and not only in the ratio.
"""
from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import adapters as api  # noqa: E402


def record_reads(fabric):
    """{id(cfg): [(off, width), ...]} of the reads one boot makes (routing's own excluded)."""
    from pcilu_cli.fabric import config as cfgmod
    from pcilu_cli.fabric import model
    seen: dict[int, list] = {}
    orig_read = cfgmod.ConfigSpace.read
    orig_ranges = model.Fabric._forwarding_ranges
    inside = [0]

    def read(self, off, width):
        if not inside[0]:
            seen.setdefault(id(self), []).append((off, width))
        return orig_read(self, off, width)

    def ranges(self, link):
        inside[0] += 1
        try:
            return orig_ranges(self, link)
        finally:
            inside[0] -= 1
    cfgmod.ConfigSpace.read = read
    model.Fabric._forwarding_ranges = ranges
    try:
        k = api.enumerate_kernel(fabric)
    finally:
        cfgmod.ConfigSpace.read = orig_read
        model.Fabric._forwarding_ranges = orig_ranges
    return k, seen


def main(argv):
    fabric_path, rounds = argv[0], int(argv[1])
    api.warm_up()
    fab = api.load_fabric(fabric_path)
    k, seen = record_reads(fab)
    plan = []
    reads = 0
    for key, dev in k.devices.items():
        ops = tuple(seen.get(id(dev.fn.cfg), ()))
        reads += len(ops)
        plan.append((key >> 16, (key >> 8) & 0xFF, key & 0xFF, ops))
    n = len(plan)
    del k, fab
    t_enum, t_base = [], []
    for _ in range(rounds):
        fab = api.load_fabric(fabric_path)
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        k = api.enumerate_kernel(fab)
        t_enum.append(time.perf_counter() - t0)
        assert len(k.devices) == n
        del k
        gc.enable()
        fab2 = api.load_fabric(fabric_path)
        rd = fab2.config_read
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        for d, b, df, ops in plan:
            for off, width in ops:
                rd(d, b, df, off, width)
        t_base.append(time.perf_counter() - t0)
        gc.enable()
        del fab, fab2
    print(json.dumps({"functions": n, "reads_per_function": reads / max(n, 1),
                      "enumerate": t_enum, "baseline": t_base,
                      "per_function_us": statistics.median(t_enum) / n * 1e6,
                      "baseline_per_function_us": statistics.median(t_base) / n * 1e6}))


if __name__ == "__main__":
    main(sys.argv[1:])
