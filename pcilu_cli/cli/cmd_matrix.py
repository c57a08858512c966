# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu profiles --matrix``: kexec a sample fabric from every profile into every profile.

For each ``(from, to)`` pair: boot the fabric with ``from``, preserve its endpoint(s), kexec
with ``to`` (``Machine.kexec(profile=to)``) and classify what the new kernel did, following the
failure policy of ``kho-luo-abi.md`` §6:

* ``incoming``  -- the PCI FLB was matched and retrieved; ``incoming`` lists the devices the new
  kernel marked incoming (empty for v6 patch 01, which tracks no devices);
* ``no-kho``    -- the KHO root was rejected (compatible mismatch): a silent non-KHO boot;
* ``nothing``   -- KHO and LUO were accepted but no FLB record carries the new kernel's PCI
  FLB name (``No incoming FLB matched ...``);
* ``panic``     -- the new kernel panicked (LUO mismatch, PCI FLB version mismatch, ...).

The outcome is what the simulation did, never a lookup table; the reason names the profile
fields that explain it.
"""
from __future__ import annotations


from pcilu_cli.abi.profiles import Profile, get_profile, matrix_profiles
from pcilu_cli.errors import KernelPanic, KernelRefusal

from pcilu_cli.api.shipped import path as _example  # noqa: E402

# the shipped example (package data: found in an installed wheel as in a checkout)
DEFAULT_FABRIC = _example("fabrics", "qemu-virtio-net.yaml")

OUTCOMES = ("incoming", "no-kho", "nothing", "panic")
LEGEND = {
    "incoming": "in(N): PCI FLB matched, N devices incoming",
    "no-kho": "KHO compatible differs: silent non-KHO boot",
    "nothing": "PCI FLB name differs: no incoming FLB matched",
    "panic": "the new kernel panics (LUO or FLB version differs)",
}


def _endpoints(report: dict) -> list[str]:
    return [d["bdf"] for d in report["devices"]
            if d.get("enumerated", True) and d["bdf"] and d["kind"] in ("endpoint", "pf")]


def _reason(a: Profile, b: Profile, outcome: str, incoming: list, panic: str | None) -> str:
    if outcome == "no-kho":
        return f"KHO compatible {a.kho_compatible} != {b.kho_compatible}: not a KHO boot"
    if outcome == "panic":
        if a.luo_compatible != b.luo_compatible:
            return f"LUO compatible {a.luo_compatible} != {b.luo_compatible}"
        if a.pci_version != b.pci_version and a.pci_compatible == b.pci_compatible:
            return f"PCI FLB version {a.pci_version} != {b.pci_version}"
        return panic or "kernel panic"
    if outcome == "nothing":
        return f"FLB name {a.pci_compatible!r} != {b.pci_compatible!r}"
    if not incoming:
        return f"FLB {b.pci_compatible!r} matched; {b.name} tracks no devices" \
            if b.refcount == "padding" else (
                f"FLB {b.pci_compatible!r} matched; {b.name} has no incoming tracking (patch 03)"
                if b.patch < 3 else f"FLB {b.pci_compatible!r} matched, no device")
    return f"same ABI ({b.pci_compatible}" + (f" v{b.pci_version}" if b.pci_version else "") + \
        f"): {len(incoming)} device(s) incoming"


def matrix_cell(load, a: Profile, b: Profile) -> dict:
    """One kexec from profile ``a`` to ``b`` over a freshly loaded fabric (``load()``)."""
    from pcilu_cli.state.machine import Machine
    m = Machine.boot(load(), profile=a.name)
    preserved, refused = [], []
    for bdf in _endpoints(m.report()):
        try:
            m.preserve(bdf)
            preserved.append(bdf)
        except KernelRefusal as exc:
            refused.append(f"{bdf}: {exc.errno_name}")
    panic = None
    try:
        nxt = m.kexec(profile=b.name)
    except KernelPanic as exc:
        panic = exc.panic_message
        nxt = exc.machine
    messages = nxt.report()["messages"] if nxt is not None else []
    incoming: list[str] = []
    if panic is not None:
        outcome = "panic"
    elif nxt.kho_in.get("status") != "kho":
        outcome = "no-kho"
    elif nxt.incoming is None or nxt.incoming.flb(b.pci_compatible) is None:
        outcome = "nothing"
    else:
        outcome = "incoming"
        incoming = [d["bdf"] for d in nxt.report()["devices"] if d["incoming"]]
    return {"from": a.name, "to": b.name, "outcome": outcome, "incoming": incoming,
            "panic": panic, "reason": _reason(a, b, outcome, incoming, panic),
            "preserved": preserved, "refused": refused, "messages": messages}


def profile_matrix(fabric_path=None, profiles=None) -> dict:
    from pcilu_cli.fabric import load_fabric
    path = str(fabric_path or DEFAULT_FABRIC)
    profs = [get_profile(p) for p in (profiles or matrix_profiles())]
    first = load_fabric(path)          # BadInput (exit 3) before any kernel runs

    def load():
        return first.copy()
    cells = [matrix_cell(load, a, b) for a in profs for b in profs]
    return {"kind": "profile_matrix", "fabric": path, "fabric_name": getattr(first, "name", None),
            "profiles": [p.name for p in profs], "cells": cells}


def _short(cell: dict) -> str:
    o = cell["outcome"]
    if o == "incoming":
        return f"[green]in({len(cell['incoming'])})[/green]"
    if o == "nothing":
        return "[yellow]nothing[/yellow]"
    if o == "no-kho":
        return "[dim]no-kho[/dim]"
    return "[bold red]panic[/bold red]"


def run_matrix(fabric_path, as_json: bool, profiles=None) -> None:
    doc = profile_matrix(fabric_path, profiles)
    if as_json:
        from pcilu_cli.cli.context import print_json
        print_json(doc)
        return
    from rich import box
    from rich.markup import escape
    from rich.table import Table
    from pcilu_cli.cli.context import console
    con = console()
    names = doc["profiles"]
    by = {(c["from"], c["to"]): c for c in doc["cells"]}
    t = Table(box=box.SIMPLE_HEAD, title=f"kexec from (row) to (column), fabric "
              f"{escape(str(doc['fabric_name']))}")
    t.add_column("from", style="bold", no_wrap=True)
    for n in names:
        t.add_column(n, no_wrap=True)
    for a in names:
        t.add_row(a, *[_short(by[(a, b)]) for b in names])
    con.print(t)
    for o in OUTCOMES:
        con.print(f"  {o:<8} {escape(LEGEND[o])}")
    panics = [c for c in doc["cells"] if c["outcome"] == "panic"]
    if panics:
        con.print("panics:")
        for c in panics:
            con.print(f"  {c['from']} -> {c['to']}: {escape(c['panic'])}")
