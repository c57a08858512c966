# SPDX-License-Identifier: GPL-2.0-only
"""Synthetic fabrics for benchmarks: many realistic trees, built fast and sparsely.

Shape per domain: root bus 00 → root ports (device 1..31, functions 0..7) → a switch
(upstream port → ``endpoints_per_switch`` downstream ports) → one endpoint device per
downstream port, with 1, 2, 4 or 8 functions (seeded choice).  Bus numbers are what firmware
leaves (depth-first in device order, the pci_scan_bridge_extend() pass-1 order), computed
directly.  A domain is full when its 256 bus numbers are used; further domains follow
(0, 1, 2, ...; ``domains`` is the minimum count, more are added as needed).

Memory: endpoints share one immutable template config (copy-on-write); only bridges own a
private copy (they hold bus numbers).  262,144 functions build in a few seconds.

Shapes (``shape=``):

* ``"tree"`` (default): the shape above; a domain holds ~886 functions (its 256 bus numbers
  run out first), so 65,536 functions span 74 domains.
* ``"sriov"``: a host of realistic shape: domain 0 starts with ``sriov_pfs`` root ports, each
  with one SR-IOV PF (VF Enable set, ``vfs_per_pf`` VFs at First VF Offset 1, stride 1: the
  VFs fill the PF's bus and spill onto the next one, which the root port's bus range covers —
  pci_iov_bus_range()); the rest are NVMe drives behind switches (the tree above).
  ``synth_fabric(4096, shape="sriov")`` = 8 PFs x 256 VFs + NVMe behind switches.
* ``"ari"``: as many functions per domain as the bus numbers allow: bus 00 holds a
  multi-function host bridge at 00.0 and 255 root ports (00.1 .. 1f.7); behind each root port
  (ARI Forwarding supported) one ARI device of 256 functions (ARI Next Function Number
  chains 0 → 1 → … → 255). 65,536 functions = one full domain.

API:
    synth_fabric(n_functions, domains=1, endpoints_per_switch=8, seed=0, shape="tree",
                 sriov_pfs=8, vfs_per_pf=256) -> Fabric
"""
from __future__ import annotations

import random

from pcilu_cli.abi.bdf import format_bdf
from pcilu_cli.fabric.function_spec import FunctionSpec, make_config
from pcilu_cli.fabric.model import _EMPTY_MAP, Fabric, Function


def _templates():
    acs = (0x005F, 0x0000)
    mk = make_config
    return {
        "rp": mk(FunctionSpec("0000:00:01.0", vendor=0x8086, device=0x352a, kind="root_port",
                              acs=acs, ari_forwarding=(True, False), bus_master=True,
                              slot=True, multifunction=True)),   # ports at functions 0-7
        "usp": mk(FunctionSpec("0000:01:00.0", vendor=0x1000, device=0xc030, kind="upstream",
                               bus_master=True)),
        "dsp": mk(FunctionSpec("0000:02:00.0", vendor=0x1000, device=0xc030,
                               kind="downstream", acs=acs, ari_forwarding=(True, False),
                               bus_master=True, slot=True)),
        "ep": mk(FunctionSpec("0000:03:00.0", vendor=0x144d, device=0xa824,
                              class_code=0x010802, bus_master=True)),
        "ep_mf": mk(FunctionSpec("0000:03:00.0", vendor=0x15b3, device=0x101d,
                                 class_code=0x020000, bus_master=True, multifunction=True)),
    }


SHAPES = ("tree", "sriov", "ari")


def synth_fabric(n_functions: int, domains: int = 1, endpoints_per_switch: int = 8,
                 seed: int = 0, shape: str = "tree", sriov_pfs: int = 8,
                 vfs_per_pf: int = 256) -> Fabric:
    if n_functions < 1:
        raise ValueError("n_functions must be >= 1")
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r} (one of {', '.join(SHAPES)})")
    if shape == "ari":
        return _synth_ari(n_functions, domains)
    k = max(1, min(int(endpoints_per_switch), 32))
    rng = random.Random(seed)
    t = _templates()
    source = {"kind": "synthetic", "seed": seed, "endpoints_per_switch": k}
    if shape != "tree":
        source.update(shape=shape, sriov_pfs=sriov_pfs, vfs_per_pf=vfs_per_pf)
    fab = Fabric(f"synth-{n_functions}", source, {})
    by_uid = fab._by_uid
    count = 0
    dom = 0

    def new(uid, devfn, tmpl, parent, link_map):
        fn = Function(uid, devfn, tmpl.copy())
        fn.fabric = fab
        if parent is None:
            fn.root = link_map_root[0]
        else:
            fn.upstream, fn.root = parent, parent.root
        link_map[devfn] = fn
        by_uid[uid] = fn
        return fn

    link_map_root = [None]
    while count < n_functions:
        root = fab.add_root(dom, 0)
        link_map_root[0] = root
        bus = 0
        bridges_root = []
        first_devfn = 8
        if shape == "sriov" and dom == 0:
            pf_tmpl = make_config(FunctionSpec(
                "0000:01:00.0", vendor=0x8086, device=0x1592, class_code=0x020000,
                bus_master=True, ari_next_function=0,
                sriov={"total_vfs": vfs_per_pf, "num_vfs": vfs_per_pf, "vf_enable": True,
                       "first_vf_offset": 1, "vf_stride": 1, "vf_device": 0x1889,
                       "ari_capable_hierarchy": True}))
            span = (vfs_per_pf + 255) >> 8          # extra buses the VFs spill onto
            for devfn in range(8, 8 + sriov_pfs):
                if count >= n_functions or bus + 1 + span > 0xFF:
                    break
                rp = new(format_bdf(dom, 0, devfn), devfn, t["rp"], None, root.functions)
                bridges_root.append(rp)
                rp.downstream, rp.bridges = {}, []
                sec = bus + 1
                pf = new(format_bdf(dom, sec, 0), 0, pf_tmpl, rp, rp.downstream)
                rp.set_bus_numbers(0, sec, sec + span)
                fab.sync_virtfns(pf)
                count += 2 + len(pf.virtfns or ())
                bus = sec + span
            first_devfn = 8 + sriov_pfs
        for devfn in range(first_devfn, 256):  # device 1..31, function 0..7
            if count >= n_functions or bus + 2 + k > 0xFF:
                break
            rp = new(format_bdf(dom, 0, devfn), devfn, t["rp"], None, root.functions)
            bridges_root.append(rp)
            count += 1
            rp_sec = bus + 1
            rp.downstream, rp.bridges = {}, []
            usp = new(format_bdf(dom, rp_sec, 0), 0, t["usp"], rp, rp.downstream)
            rp.bridges.append(usp)
            count += 1
            usp_sec = rp_sec + 1
            usp.downstream, usp.bridges = {}, []
            nxt = usp_sec
            for i in range(k):
                if count >= n_functions:
                    break
                dsp_devfn = i << 3
                dsp = new(format_bdf(dom, usp_sec, dsp_devfn), dsp_devfn, t["dsp"], usp,
                          usp.downstream)
                usp.bridges.append(dsp)
                count += 1
                nxt += 1
                dsp.set_bus_numbers(usp_sec, nxt, nxt)
                dsp.downstream = {}
                nfuncs = rng.choice((1, 1, 2, 4, 8))
                tmpl = t["ep"] if nfuncs == 1 else t["ep_mf"]
                for f in range(nfuncs):
                    if count >= n_functions:
                        break
                    new(format_bdf(dom, nxt, f), f, tmpl, dsp, dsp.downstream)
                    count += 1
            usp.set_bus_numbers(rp_sec, usp_sec, nxt)
            rp.set_bus_numbers(0, rp_sec, nxt)
            bus = nxt
        root.bridges = bridges_root
        dom += 1
        if count < n_functions and dom >= 0x10000:
            raise ValueError("too many functions for the synthetic layout")
    return _finish(fab, dom, domains)


def _synth_ari(n_functions: int, domains: int) -> Fabric:
    """The ``"ari"`` shape (module docstring): 65,536 functions per domain."""
    fab = Fabric(f"synth-{n_functions}", {"kind": "synthetic", "shape": "ari"}, {})
    by_uid = fab._by_uid
    host = make_config(FunctionSpec("0000:00:00.0", vendor=0x8086, device=0x09a2,
                                    class_code=0x060000, kind="host_bridge",
                                    multifunction=True))
    rp_t = make_config(FunctionSpec("0000:00:01.0", vendor=0x8086, device=0x352a,
                                    kind="root_port", ari_forwarding=(True, False),
                                    bus_master=True, slot=True, multifunction=True))
    # one config per ARI function number (only the Next Function Number differs), shared
    # copy-on-write by every bus
    ari_t = [make_config(FunctionSpec("0000:01:00.0", vendor=0x144d, device=0xa824,
                                      class_code=0x010802, bus_master=True,
                                      multifunction=True,
                                      ari_next_function=(f + 1) & 0xFF)) for f in range(256)]
    count, dom = 0, 0

    def new(uid, devfn, tmpl, parent, link_map, root):
        fn = Function(uid, devfn, tmpl.copy())
        fn.fabric = fab
        if parent is None:
            fn.root = root
        else:
            fn.upstream, fn.root = parent, parent.root
        link_map[devfn] = fn
        by_uid[uid] = fn
        return fn

    while count < n_functions:
        root = fab.add_root(dom, 0)
        new(format_bdf(dom, 0, 0), 0, host, None, root.functions, root)
        count += 1
        bridges = []
        for devfn in range(1, 256):
            if count >= n_functions:
                break
            rp = new(format_bdf(dom, 0, devfn), devfn, rp_t, None, root.functions, root)
            bridges.append(rp)
            count += 1
            rp.set_bus_numbers(0, devfn, devfn)
            rp.downstream, rp.bridges = {}, []
            for f in range(256):
                if count >= n_functions:
                    break
                fn = new(format_bdf(dom, devfn, f), f, ari_t[f], rp, rp.downstream, root)
                count += 1
            if f < 255 and count >= n_functions:   # a cut-short device: end its ARI chain
                fn.cfg = _end_ari_chain(fn.cfg)
        root.bridges = bridges
        dom += 1
    return _finish(fab, dom, domains)


def _finish(fab: Fabric, dom: int, domains: int) -> Fabric:
    """Empty domains up to ``domains``; leaves share the empty map; routing from scratch."""
    while dom < domains:
        fab.add_root(dom, 0)
        dom += 1
    for fn in fab._by_uid.values():
        if not fn.downstream:
            fn.downstream = _EMPTY_MAP
    fab.invalidate_routes()
    return fab


def _end_ari_chain(cfg):
    """The same config with ARI Next Function Number 0 (the last function of its device)."""
    off = cfg.find_ext_capability(0x000E)
    if off is not None:
        cfg.write(off + 5, 1, 0)
    return cfg
