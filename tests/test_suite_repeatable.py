# SPDX-License-Identifier: GPL-2.0-only
"""The suite passes again in the same clone: nothing a run leaves behind decides the next one.

Scenarios: a CI job (CI=true) runs hypothesis deterministically and saves no examples, while
a developer's run still explores; the radix-tree round-trip never draws a folio that a
tracker page could share; every fuzz target's field-overwrite mutation has fields to apply to.
"""
import os
import subprocess
import sys

from hypothesis import find, settings
from hypothesis.errors import NoSuchExample

from tests.conftest import ROOT


def _profile_in_child(env_ci):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PCILU_HYPOTHESIS_PROFILE")}
    if env_ci is not None:
        env["CI"] = env_ci
    code = ("import tests.conftest as c; from hypothesis import settings as s; "
            "d = s.default; print(c.HYPOTHESIS_PROFILE, d.derandomize, d.database is None)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                         capture_output=True, check=True).stdout.split()
    return out


def test_ci_runs_are_derandomized_and_save_nothing():
    assert _profile_in_child("true") == ["ci", "True", "True"]


def test_a_local_run_still_explores_and_remembers_failures():
    assert _profile_in_child(None) == ["dev", "False", "False"]


def test_radix_round_trip_never_draws_a_folio_in_the_tracker_window():
    from pcilu_cli.memory.kho import TRACKER_BASE, TRACKER_SIZE
    from tests.test_memory_kho import blocks_strategy

    def overlaps(raw):
        for pfn, order in raw:
            pa = (pfn << 12) & ~((4096 << order) - 1)
            if pa < TRACKER_BASE + TRACKER_SIZE and pa + (4096 << order) > TRACKER_BASE:
                return True
        return False
    try:
        hit = find(blocks_strategy, overlaps, settings=settings(max_examples=2000,
                                                                 database=None))
    except NoSuchExample:
        hit = None
    assert hit is None, f"blocks_strategy draws {hit}, which overlaps the tracker pages"


def test_every_fuzz_target_names_fields_for_the_overwrite_mutation():
    sys.path.insert(0, str(ROOT / "fuzz"))
    import targetlib as T
    missing = []
    for name, target in sorted(T.TARGETS.items()):
        try:
            seeds = target.seeds()
        except T.Unavailable:
            continue
        if not any(s.fields for s in seeds):
            missing.append(name)
    assert not missing, f"no integer fields to overwrite in the seeds of {missing}"
