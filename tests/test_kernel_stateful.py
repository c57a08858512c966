# SPDX-License-Identifier: GPL-2.0-only
"""Stateful property test: random preserve / unpreserve / kexec / finish sequences against a
tiny reference model written from the spec (pci-liveupdate-v6.md §4.1–§4.3, §5.2), on the
switch fabric (RP → USP → two DSPs → two NVMe) through the Machine, i.e. with real memory.

The model knows only the rules: a preserved endpoint counts once on every device of its path
up to the root port; an endpoint is preserved at most once (a second time is -EBUSY and
changes nothing); refcounts of a path drop on unpreserve; the next kernel sees exactly the
outgoing devices as incoming, with Bus Master kept on them and cleared elsewhere; finishing an
endpoint drops its path's incoming counts.
"""
from __future__ import annotations

import struct

from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from hypothesis import strategies as st

from pcilu_cli.errors import KernelRefusal
from pcilu_cli.state import Machine
from tests.kernel_fabrics import switch_fabric

RP, USP = "0000:00:01.0", "0000:01:00.0"
DSPS = ["0000:02:00.0", "0000:02:01.0"]
EPS = ["0000:03:00.0", "0000:04:00.0"]
PATH = {EPS[i]: [EPS[i], DSPS[i], USP, RP] for i in range(2)}
ALL = ["0000:00:00.0", RP, USP] + DSPS + EPS


class PreserveMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.m = Machine.boot(switch_fabric())
        self.preserved: set[str] = set()        # model: endpoints preserved (outgoing)
        self.incoming: set[str] = set()         # model: endpoints incoming, not finished

    # ---- the model -----------------------------------------------------------------------
    def expected_refcount(self, bdf, eps) -> int:
        return sum(1 for ep in eps if bdf in PATH[ep])

    def report(self):
        return {d["bdf"]: d for d in self.m.report()["devices"]}

    # ---- rules -----------------------------------------------------------------------------
    @rule(ep=st.sampled_from(EPS))
    def preserve(self, ep):
        if ep in self.preserved:
            before = self.m.kernel.outgoing_blob()
            try:
                self.m.preserve(ep)
            except KernelRefusal as e:
                assert e.errno_name == "EBUSY"
            else:
                raise AssertionError(f"second preserve of {ep} was not refused")
            assert self.m.kernel.outgoing_blob() == before      # no trace of the refusal
        else:
            self.m.preserve(ep)
            self.preserved.add(ep)

    @precondition(lambda self: self.preserved)
    @rule(data=st.data())
    def unpreserve(self, data):
        ep = data.draw(st.sampled_from(sorted(self.preserved)))
        self.m.unpreserve(ep)
        self.preserved.discard(ep)

    @rule()
    def kexec(self):
        before = self.report()
        nxt = self.m.kexec()
        rep = {d["bdf"]: d for d in nxt.report()["devices"]}
        path = {b for ep in self.preserved for b in PATH[ep]}
        for bdf in ALL:
            assert rep[bdf]["incoming"] == (bdf in path), bdf
            # kept (not cleared) on the preserved path, cleared elsewhere; nothing sets it
            # again (pcilu models no driver binding, which would call pci_set_master())
            want = before[bdf]["bus_master"] if bdf in path else False
            assert rep[bdf]["bus_master"] == want, bdf
        self.m, self.incoming, self.preserved = nxt, set(self.preserved), set()

    @precondition(lambda self: self.incoming)
    @rule(data=st.data())
    def finish(self, data):
        ep = data.draw(st.sampled_from(sorted(self.incoming)))
        self.m.finish(ep)
        self.incoming.discard(ep)

    # ---- invariants -----------------------------------------------------------------------
    @invariant()
    def outgoing_refcounts_match_the_model(self):
        rep = self.report()
        for bdf in ALL:
            want = self.expected_refcount(bdf, self.preserved) if bdf in PATH[EPS[0]] + \
                PATH[EPS[1]] else 0
            assert rep[bdf]["outgoing_refcount"] == want, (bdf, rep[bdf], self.preserved)
            assert rep[bdf]["outgoing"] == (want > 0), bdf

    @invariant()
    def the_blob_counts_what_is_in_use(self):
        blob = self.m.kernel.outgoing_blob()
        if blob is None:
            assert not self.preserved
            return
        max_nr, nr = struct.unpack_from("<II", blob, 0)
        in_use = [e for e in struct.iter_unpack("<IHH", blob[8:8 + 8 * max_nr]) if e[2]]
        assert nr == len(in_use) == len({b for ep in self.preserved for b in PATH[ep]})
        # freed entries are zeroed entirely (§1.4 rule 4)
        assert all(e == (0, 0, 0) or e[2] for e in struct.iter_unpack("<IHH",
                                                                       blob[8:8 + 8 * max_nr]))

    @invariant()
    def incoming_follows_finish(self):
        rep = self.report()
        path = {b for ep in self.incoming for b in PATH[ep]}
        for bdf in ALL:
            assert rep[bdf]["incoming"] == (bdf in path), (bdf, self.incoming)


PreserveMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=12,
                                             deadline=None, derandomize=True)
TestPreserveMachine = PreserveMachine.TestCase
