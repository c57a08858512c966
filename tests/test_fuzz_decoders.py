# SPDX-License-Identifier: GPL-2.0-only
"""Bounded fuzz suite: mutated valid inputs through every decoder, via the CLI (issue 8, part 1).

For each target of ``fuzz/targetlib.py`` (a pcilu command plus seeds built by the project's own
encoders), the seeds themselves must be accepted, and every mutation of them — truncation at
each structurally interesting offset, every integer field overwritten with boundary values,
and random stacks of bit flips / truncations / junk extensions / field overwrites (and line
and number edits for text formats) — must end with a documented exit code, no traceback, one
``pcilu: error:`` line, and one JSON document in ``--json`` mode (``targetlib.check_outcome``).

Deterministic (hypothesis ``derandomize=True``) and bounded to a few seconds. The long,
coverage-guided runs are ``make fuzz`` (atheris, ``fuzz/run.py``).
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "fuzz"))
import mutations as M  # noqa: E402
import targetlib as T  # noqa: E402

# Bugs the suite found in decoders owned by other engineers, reported with reproducers; the
# mark turns into XPASS once they are fixed (then delete the entry).
KNOWN_BUGS = {
}
NAMES = sorted(T.TARGETS)
# the known bugs show up under random mutations only; every other test stays strict for them
MUTATION_NAMES = [pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_BUGS[n], strict=False))
                  if n in KNOWN_BUGS else n for n in NAMES]
FUZZ_SETTINGS = settings(max_examples=40, derandomize=True, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck))


@functools.lru_cache(maxsize=None)
def _seeds(name: str) -> tuple:
    target = T.TARGETS[name]
    try:
        seeds = target.seeds()
    except T.Unavailable as e:
        return ("unavailable", str(e))
    return ("ok", tuple(seeds))


def _target_and_seeds(name: str, workdir) -> tuple:
    status, seeds = _seeds(name)
    # every target's decoder and seed encoder exist: one that cannot build its seeds fails
    assert status != "unavailable", f"{name}: {seeds}"
    return T.TARGETS[name], seeds


@pytest.mark.parametrize("name", NAMES)
def test_seeds_are_accepted(name, tmp_path):
    target, seeds = _target_and_seeds(name, tmp_path)
    assert seeds
    for seed in seeds:
        res = T.run_input(target, seed.data, str(tmp_path), f"seed {seed.label}")
        if target.seeds_valid:
            assert res.code == 0, f"{name}: seed {seed.label} rejected: {res.stderr!r}"


@pytest.mark.parametrize("name", NAMES)
def test_truncation_at_every_interesting_offset(name, tmp_path):
    target, seeds = _target_and_seeds(name, tmp_path)
    rejected = 0
    for seed in seeds:
        for at in M.interesting_offsets(seed.data, seed.fields, target.text)[:80]:
            res = T.run_input(target, M.truncate(seed.data, at), str(tmp_path),
                              f"seed {seed.label} truncated at {at}")
            rejected += res.code != 0
    # truncating to 0 bytes (always among the offsets) is never a valid input
    assert rejected >= len(seeds)


@pytest.mark.parametrize("name", NAMES)
def test_every_field_overwritten_with_boundary_values(name, tmp_path):
    target, seeds = _target_and_seeds(name, tmp_path)
    assert any(s.fields for s in seeds), f"{name}: its seeds name no integer fields"
    for seed in seeds:
        # text: every number token is a field, and each run of a text target is a whole
        # parse (a rehearsal for scenarios), so fewer fields and values keep this to seconds
        fields = seed.fields[::max(1, len(seed.fields) // 6)][:6] if target.text \
            else seed.fields[:48]
        for off, width in fields:
            if target.text:        # a number token: written back as text, hex stays hex
                values, op = TEXT_FIELD_VALUES, "overwrite_text"
            else:
                values, op = (0, 1, (1 << 8 * width) - 1, 1 << (8 * width - 1), 0x7FFF_FFFF), \
                    "overwrite"
            for value in values:
                ops = [(op, off, width, value)]
                T.run_input(target, M.apply(seed.data, ops), str(tmp_path),
                            f"seed {seed.label} ops {ops}")


# what a text field (a number in YAML, a dump, a JSON spec) is overwritten with: the limits
# of u8/u16/u32/u64 and one past them
TEXT_BOUNDARY_VALUES = (0, 1, 0xFF, 0x100, 0xFFFF, 0xFFFF_FFFF, 1 << 32, (1 << 64) - 1, 1 << 64)
TEXT_FIELD_VALUES = (0, 0xFFFF_FFFF, 1 << 64)


@st.composite
def mutation_ops(draw, seed, text: bool):
    n = len(seed.data)
    kinds = ["flip", "truncate", "extend", "overwrite", "overwrite"]
    if text:
        kinds += ["drop_line", "dup_line", "replace_number", "replace_number"]
    ops = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(kinds))
        if kind == "flip":
            ops.append(("flip", draw(st.integers(0, max(n - 1, 0))), draw(st.integers(0, 7))))
        elif kind == "truncate":
            offs = M.interesting_offsets(seed.data, seed.fields, text) or [0]
            ops.append(("truncate", draw(st.sampled_from(offs) | st.integers(0, n))))
        elif kind == "extend":
            ops.append(("extend", draw(st.binary(max_size=64)
                                       | st.sampled_from([bytes(4096), b"\xff" * 16]))))
        elif kind == "overwrite" and text and seed.fields:
            off, width = draw(st.sampled_from(seed.fields))
            ops.append(("overwrite_text", off, width, draw(st.sampled_from(TEXT_BOUNDARY_VALUES))))
        elif kind == "overwrite":
            if seed.fields:
                off, width = draw(st.sampled_from(seed.fields))
            else:
                width = draw(st.sampled_from([2, 4, 8]))
                off = draw(st.integers(0, max(n - width, 0))) // width * width
            ops.append(("overwrite", off, width,
                        draw(st.sampled_from(M.boundary_values(width))
                             | st.integers(0, (1 << 8 * width) - 1))))
        elif kind == "replace_number":
            ops.append(("replace_number", draw(st.integers(0, 200)),
                        draw(st.sampled_from(M.NUMBER_REPLACEMENTS))))
        else:
            ops.append((kind, draw(st.integers(0, 500))))
    return ops


@pytest.mark.parametrize("name", MUTATION_NAMES)
def test_random_mutations_keep_the_contract(name, tmp_path):
    target, seeds = _target_and_seeds(name, tmp_path)

    @FUZZ_SETTINGS
    @given(data=st.data())
    def run(data):
        seed = data.draw(st.sampled_from(seeds), label="seed")
        ops = data.draw(mutation_ops(seed, target.text), label="ops")
        T.run_input(target, M.apply(seed.data, ops), str(tmp_path),
                    f"seed {seed.label} ops {ops}")
    run()


# ---- the checker itself must catch what it is meant to catch -----------------------------------

def test_contract_check_rejects_tracebacks_and_multiline_errors():
    t = T.Target("probe", ("inspect", "{file}", "--json"), lambda: [])
    good = T.Outcome(3, b'{"kind":"error"}\n', b"pcilu: error: x: offset 0x0: bad\n")
    T.check_outcome(t, good)
    bad = [
        T.Outcome(1, b'{"kind":"error"}\n', b"pcilu: internal error: IndexError\n"),
        T.Outcome(3, b'{"kind":"error"}\n', b"Traceback (most recent call last):\n"),
        T.Outcome(3, b'{"kind":"error"}\n', b"pcilu: error: a\nsecond line\n"),
        T.Outcome(3, b"", b"pcilu: error: a\n"),
        T.Outcome(0, b'{"kind":"pci_ser"}\n{"kind":"pci_ser"}\n', b""),
        T.Outcome(2, b'{"kind":"error"}\n', b"pcilu: error: usage\n"),
    ]
    for o in bad:
        with pytest.raises(AssertionError):
            T.check_outcome(t, o)


def test_mutation_operators_do_what_they_say():
    data = bytes(range(16))
    assert M.flip(data, 3, 0)[3] == 2 and M.flip(data, 3, 0)[:3] == data[:3]
    assert M.truncate(data, 5) == data[:5]
    assert M.extend(data, b"xy")[-2:] == b"xy"
    assert M.overwrite(data, 4, 4, 0xFFFFFFFF)[4:8] == b"\xff" * 4
    assert M.overwrite(data, 14, 4, 1) == data          # a field past the end is left alone
    text = b"a: 1\nb: 0x20\n"
    assert M.drop_line(text, 0) == b"b: 0x20\n"
    assert M.dup_line(text, 1) == b"a: 1\nb: 0x20\nb: 0x20\n"
    assert M.replace_number(text, 1, b"-1") == b"a: 1\nb: -1\n"
