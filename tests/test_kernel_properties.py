# SPDX-License-Identifier: GPL-2.0-only
"""Property tests: any sequence of preserve/unpreserve keeps the v6 pci_ser invariants, and the
next kernel sees exactly the outgoing set as incoming (pci-liveupdate-v6.md §1.4, §4, §5.1)."""
from __future__ import annotations

import struct

from hypothesis import given, settings, strategies as st

from pcilu_cli.errors import KernelRefusal
from pcilu_cli.fabric.build import FabricBuilder
from pcilu_cli.kernel import Kernel
from tests.inmemory_kexec import next_kernel

EPS = ["0000:03:00.0", "0000:04:00.0", "0000:05:00.0", "0000:06:00.0"]


def fabric(d3cold_ep=None):
    b = FabricBuilder("prop")
    b.add_function("0000:00:01.0", kind="root_port", bus_master=True)
    b.add_function("0000:01:00.0", "0000:00:01.0", kind="upstream", bus_master=True)
    for i, ep in enumerate(EPS):
        dsp = f"0000:02:{i:02x}.0"
        b.add_function(dsp, "0000:01:00.0", kind="downstream", bus_master=True)
        b.add_function(ep, dsp, bus_master=True,
                       power_state="D3cold" if ep == d3cold_ep else None)
    b.add_function("0000:00:02.0", kind="rciep", bus_master=True)
    return b.build()


ops = st.lists(st.tuples(st.sampled_from(["p", "u"]), st.sampled_from(EPS)), max_size=14)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_blob_invariants_and_hand_over(seq):
    k = Kernel.boot(fabric())
    for op, ep in seq:
        if op == "p":
            try:
                k.preserve(ep)
            except KernelRefusal as exc:
                assert exc.errno_name == "EBUSY"
        else:
            k.unpreserve(ep)
    blob = k.outgoing_blob()
    preserved = {d.name for d in k.devices.values() if d.outgoing is not None and d.hdr_type == 0}
    if blob is None:
        assert not preserved
        return
    max_nr, nr = struct.unpack_from("<II", blob)
    assert max_nr == len(k.devices) and len(blob) == 8 + 8 * max_nr
    entries = [e for e in struct.iter_unpack("<IHH", blob[8:]) if e[2]]
    assert nr == len(entries)
    # every bridge's refcount = preserved endpoints below it
    for d in k.devices.values():
        if d.outgoing is None:
            continue
        rc = struct.unpack_from("<H", blob, 8 + 8 * d.outgoing + 6)[0]
        below = 1 if d.hdr_type == 0 else 0
        if d.subordinate is not None:
            below = sum(1 for e in preserved if _under(k, e, d))
        assert rc == below
    k1 = next_kernel(k, k.kexec())
    incoming = {d.name for d in k1.devices.values() if d.incoming is not None}
    outgoing = {d.name for d in k.devices.values() if d.outgoing is not None}
    assert incoming == outgoing


def _under(k, ep_name, bridge):
    d = next(x for x in k.devices.values() if x.name == ep_name)
    while d is not None:
        if d is bridge:
            return True
        d = d.bus.self
    return False


def test_d3cold_device_keeps_bus_master_at_kexec():
    fab = fabric(d3cold_ep="0000:04:00.0")
    k = Kernel.boot(fab)
    # a D3cold function does not answer config cycles: it is not even enumerated
    assert "0000:04:00.0" not in k.by_uid
    h = k.kexec()
    bme = {fn.uid: fn.bus_master for fn in h.fabric.functions()}
    assert bme["0000:04:00.0"] is True and bme["0000:03:00.0"] is False
