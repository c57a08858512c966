# SPDX-License-Identifier: GPL-2.0-only
"""A state file's JSON documents from another machine (pcilu_cli/state/metadata.py): the
metadata note and the kernel note's head are checked for shape at load, so a crafted value is
bad input naming the file and the field (exit 3), never an internal error in the step that
would have used it (a ``finish`` walking the incoming FLBs, a ``kexec`` packing addresses)."""
from __future__ import annotations

import json
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcilu_cli.abi.profiles import PROFILES
from pcilu_cli.memory import elfcore
from pcilu_cli.state import kernel_note as KN
from pcilu_cli.state import metadata
from tests import hostile_files as H
from tests.pcilu_run import run

NIC = "0000:01:00.0"


_gen1 = H.generation_1


def _notes(data: bytes) -> dict:
    _mem, notes = elfcore.read_elf_core(data)
    return {t: bytes(d) for n, t, d in notes if n == elfcore.NOTE_NAME}


def _metadata() -> dict:
    return json.loads(_notes(_gen1())[elfcore.NT_PCILU_METADATA])


def _with_metadata(doc: dict) -> bytes:
    return H._state_with_notes(_gen1(), {elfcore.NT_PCILU_METADATA: json.dumps(doc).encode()})


def _kernel_head() -> dict:
    return json.loads(KN.Kept(_notes(_gen1())[elfcore.NT_PCILU_KERNEL], 1 << 30, "x")
                      .section_raw(0))


def _with_kernel_head(doc: dict) -> bytes:
    raw = _notes(_gen1())[elfcore.NT_PCILU_KERNEL]
    secs = list(KN.Kept(raw, 1 << 30, "x").sections)
    secs[0] = zlib.compress(json.dumps(doc).encode())
    note = raw[:KN._HEADER.size] + b"".join(KN._LEN.pack(len(s)) for s in secs) + b"".join(secs)
    return H._state_with_notes(_gen1(), {elfcore.NT_PCILU_KERNEL: note})


# what each once reached, and where it failed
FOUND = [
    ("metadata", ("generation",), 1 << 70, "kexec", "generation: expected an integer"),
    ("metadata", ("profile",), "x", "enumerate", "profile: expected a profile this pcilu knows"),
    ("metadata", ("incoming", "flbs", 0, 1), [], "finish", "incoming.flbs[0][1]: expected an "
     "integer 0..2^64-1, got []"),
    ("metadata", ("allocator", "preserved", 0, 1), 1 << 70, "inspect", "allocator.preserved[0]"
     "[1]: expected an integer"),
    ("metadata", ("boot_messages", 0), None, "finish", "boot_messages[0]: expected a string"),
    ("kernel", ("generation",), None, "kexec", "generation: expected an integer"),
    ("kernel", ("params", "ignored"), True, "preserve", "params.ignored: expected a list"),
    ("kernel", ("params", "config_acs"), True, "kexec", "params.config_acs: expected a string"),
    ("kernel", ("luo", "flbs", 0, "retrieve_err"), "x", "enumerate", "retrieve_err: expected "
     "an integer -4095..0"),
    ("kernel", ("incoming", "pa"), None, "kexec", "incoming.pa: expected an integer"),
    ("kernel", ("incoming_free_calls",), None, "finish", "incoming_free_calls: expected"),
    ("kernel", ("log", "entries", 0, 1), None, "preserve", "log.entries[0][1]: expected a "
     "string"),
    ("kernel", ("luo", "flbs"), [], "finish", "its PCI FLB disagree"),
]
ARGS = {"inspect": ["inspect", "{f}", "--json"], "enumerate": ["enumerate", "{f}"],
        "preserve": ["preserve", "{f}", "0000:01:00.0"], "finish": ["finish", "{f}", NIC],
        "kexec": ["kexec", "{f}", "-o", "{o}"]}


def _run(tmp_path, data: bytes, command: str):
    f, o = tmp_path / "crafted.elf", tmp_path / "next.elf"
    f.write_bytes(data)
    return run([a.format(f=f, o=o) for a in ARGS[command]], exit_code=None)


@pytest.mark.parametrize("note, path, value, command, words", FOUND,
                         ids=[f"{n}-{'.'.join(map(str, p))}" for n, p, *_ in FOUND])
def test_a_crafted_value_is_refused_at_load_naming_the_field(tmp_path, note, path, value,
                                                             command, words):
    doc = _metadata() if note == "metadata" else _kernel_head()
    data = (_with_metadata if note == "metadata" else _with_kernel_head)(H.replaced(doc, path, value))
    res = _run(tmp_path, data, command)
    assert res.exit_code == 3, res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("pcilu: error:")]
    assert len(errors) == 1 and "crafted.elf" in errors[0] and words in errors[0], errors


@pytest.mark.parametrize("note", ["metadata", "kernel"])
def test_any_value_of_a_kind_it_never_has_is_bad_input_or_read(tmp_path, note):
    """Every value of either document replaced by null, a string or a list in turn: the state
    is read (a null that means "none") or refused as bad input, by a command that reads most
    of it (``finish`` of the incoming NIC) — never an internal error."""
    doc = _metadata() if note == "metadata" else _kernel_head()
    put = _with_metadata if note == "metadata" else _with_kernel_head
    for path in H.leaves(doc):
        for value in (None, "x", []):
            res = _run(tmp_path, put(H.replaced(doc, path, value)), "finish")
            assert res.exit_code in (0, 3, 4, 5), (path, value, res.stderr[-300:])


def test_the_states_pcilu_writes_pass_the_check_unchanged():
    metadata.check(_metadata(), "g1.elf")
    metadata.check_kernel_head(_kernel_head(), "g1.elf", KN.FIELD)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_state_of_a_three_generation_cycle_loads_back_under_every_profile(tmp_path,
                                                                                profile):
    """The states a user's cycle writes — a preserve in a generation that also has incoming
    devices, a finish, a second kexec — are read back by the next command under every
    profile (the check must never call pcilu's own state corrupt: v9's incoming blocks are
    rows of three, which a first version of the shape took for two)."""
    g0, g1, g2 = (tmp_path / f"g{i}.elf" for i in range(3))
    run(["init", H.QEMU_FABRIC, "-o", g0, "--profile", profile])
    run(["preserve", g0, NIC])
    run(["kexec", g0, "-o", g1])
    run(["preserve", g1, NIC], exit_code=None)        # refused by some patch levels: fine
    run(["finish", g1, NIC], exit_code=None)
    run(["kexec", g1, "-o", g2])
    for state in (g0, g1, g2):
        res = run(["inspect", state, "--json"], exit_code=None)
        assert res.exit_code == 0, res.stderr


def test_a_state_of_a_newer_format_says_upgrade_before_any_shape(tmp_path):
    """A newer pcilu may give a value another shape: its file is refused as newer, not as
    corrupt."""
    doc = H.replaced(H.replaced(_metadata(), ("format",), 99), ("generation",), "two")
    res = _run(tmp_path, _with_metadata(doc), "inspect")
    assert res.exit_code == 3 and "upgrade pcilu" in res.stderr and "corrupt" not in res.stderr


# integers at and beside every bound a shape has (SMALL, U32, U64, and below 0)
_INT = st.sampled_from([-1, 0, 1, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32,
                        (1 << 64) - 1, 1 << 64]) | st.integers(-3, 1 << 65)
_SCALAR = st.none() | st.booleans() | _INT | st.text(max_size=3)
_JSONISH = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=4), max_leaves=12)
# long lists in real states are of one kind (names, addresses, rows of a fixed length): drawn
# mostly that way, with the odd value of another kind
_LISTS = (st.lists(_JSONISH, max_size=8)
          | st.lists(_INT, min_size=1, max_size=8)
          | st.lists(st.text(max_size=3), min_size=1, max_size=8)
          | st.lists(st.lists(_INT | st.text(max_size=3),
                              min_size=2, max_size=3), min_size=1, max_size=8))


@settings(max_examples=400)
@given(items=_LISTS,
       spec=st.sampled_from([str, bool, metadata.U64, metadata.SMALL, (str, metadata.U64),
                             (metadata.U64, metadata.U32, str),
                             metadata._Either(str, (str, str))]))
def test_the_fast_check_of_a_long_list_never_passes_an_item_the_walk_refuses(items, spec):
    """``_all_fit`` (the column-wise check of long lists) may send a good list to the
    item-by-item walk, but must never let through an item the walk would refuse."""
    if metadata._all_fit(items, spec):
        assert all(metadata._fits(x, spec) is None for x in items)
