# SPDX-License-Identifier: GPL-2.0-only
"""Child process of the save row: the state save after a one-device change, against the same
save from scratch.

``python save_child.py STATE BDF OUTDIR ROUNDS`` prints {"reuse": [s...], "scratch": [s...]}.
Both load STATE (untimed), preserve BDF (untimed), then time ``pcilu_cli.state.save`` of the
changed generation into OUTDIR (encode + atomic write, what `pcilu preserve` pays after its
change). "reuse" is the save as the command does it, with whatever the loader kept of the file
(parts that did not change are written back as they were read); "scratch" is the same save
after :func:`adapters.forget_saved_parts` dropped what was kept — every part encoded anew.
Rounds alternate; the two files are compared byte for byte (a reused part must be identical
to a re-encoded one).
"""
from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import adapters as api  # noqa: E402


def main(argv):
    state, bdf, outdir, rounds = argv[0], argv[1], Path(argv[2]), int(argv[3])
    save, load = api.state_api()
    times = {"reuse": [], "scratch": []}
    files = {}
    warm = load(state)              # untimed: imports and first-call costs off the clock
    save(warm, str(outdir / "save-warm-up.state"))
    del warm
    for _ in range(rounds):
        for kind in ("reuse", "scratch"):
            m = load(state)
            m.preserve(bdf, session="bench")
            if kind == "scratch":
                api.forget_saved_parts(m)
            gc.collect()
            out = outdir / f"save-{kind}.state"
            t0 = time.perf_counter()
            save(m, str(out))
            times[kind].append(time.perf_counter() - t0)
            files[kind] = out.read_bytes()
            del m
    print(json.dumps({**times, "identical": files["reuse"] == files["scratch"],
                      "bytes": len(files["reuse"])}))


if __name__ == "__main__":
    main(sys.argv[1:])
