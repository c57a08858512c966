# SPDX-License-Identifier: GPL-2.0-only
"""The expectation engine: does one expectation hold after one step?

``check(exp, ctx)`` returns ``None`` when it holds, else the sentence a CI log should show:
``expected 0000:01:00.0 incoming, but it is not``. ``ctx`` is a :class:`StepContext` — the
step's outcome (ok / refused / panic), the kernel log lines it printed, and the enumerate
reports (design.md JSON) of the generation before and after the step.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StepContext:
    result: str                          # "ok" | "refused" | "panic"
    action: str
    errno: str | None = None
    message: str | None = None           # refusal text or panic message
    kernel_message: str | None = None
    step_lines: list = field(default_factory=list)
    gen_lines: list = field(default_factory=list)
    value: object = None                 # what a query step returned (is-outgoing)
    report: dict | None = None           # after the step
    prev: dict | None = None             # before the step (for kexec: the previous generation)
    machine: object = None


def find_device(rep: dict | None, bdf: str):
    """The report row of ``bdf``: by the address this generation enumerated it at, else by the
    fabric's name for it (a function that was not enumerated has no current address)."""
    if not rep:
        return None
    devs = rep.get("devices", ())
    for d in devs:
        if d.get("bdf") == bdf:
            return d
    for d in devs:
        if d.get("uid") == bdf:
            return d
    return None


def _buses(d) -> str:
    if d is None or d.get("secondary") is None:
        return "none (not a bridge)"
    if not d["secondary"] and not d["subordinate"]:
        return "00-00 (unconfigured)"
    return f"{d['secondary']:02x}-{d['subordinate']:02x}"


_FLAG = {  # kind -> (report key, wanted value, noun for "it is/is not")
    "incoming": ("incoming", True), "not-incoming": ("incoming", False),
    "outgoing": ("outgoing", True), "not-outgoing": ("outgoing", False),
    "enumerated": ("enumerated", True), "not-enumerated": ("enumerated", False),
    "bus-master": ("bus_master", True), "no-bus-master": ("bus_master", False),
    "acs-inherited": ("acs_inherited", True), "not-acs-inherited": ("acs_inherited", False),
    "ari-inherited": ("ari_inherited", True), "not-ari-inherited": ("ari_inherited", False),
}
_SAYS = {
    "incoming": ("it is", "it is not"), "outgoing": ("it is", "it is not"),
    "enumerated": ("it is", "it is not"), "bus_master": ("it is on", "it is off"),
    "acs_inherited": ("it is", "it is not"), "ari_inherited": ("it is", "it is not"),
}


def check(exp, ctx: StepContext) -> str | None:
    k = exp.kind
    want = f"expected {exp.text}"
    if k == "refused":
        a = exp.arg
        if ctx.result == "ok":
            return f"{want}, but {ctx.action} succeeded"
        if ctx.result == "panic":
            return f"{want}, but the kernel panicked: {ctx.message}"
        if ctx.errno != a["errno"]:
            return f"{want}, but it was refused with -{ctx.errno}: {ctx.message}"
        if a["message"] and a["message"] not in f"{ctx.message} {ctx.kernel_message or ''}":
            return (f"{want}, but the refusal says {ctx.message!r} (kernel: "
                    f"{ctx.kernel_message!r})")
        return None
    if k == "panic":
        if ctx.result != "panic":
            return f"{want}, but the kernel did not panic"
        if not _matches(exp.arg, ctx.message or ""):
            return f"{want}, but it panicked with {ctx.message!r}"
        return None
    if k in ("log", "no-log"):
        lines = ctx.step_lines if exp.arg["scope"] == "step" else ctx.gen_lines
        hits = [ln for ln in lines if _matches(exp.arg, ln)]
        where = "this step" if exp.arg["scope"] == "step" else "this generation"
        if k == "log" and not hits:
            return f"{want}, but none of the {len(lines)} log lines of {where} matches"
        if k == "no-log" and hits:
            return f"{want}, but {where} printed {hits[0]!r}"
        return None
    rep = ctx.report
    if k == "handover":
        got = ((rep or {}).get("kho") or {}).get("status")
        return None if got == exp.arg else f"{want}, but it is {got!r}"
    if k == "phase":
        got = (rep or {}).get("phase")
        return None if got == exp.arg else f"{want}, but it is {got!r}"
    if k == "count":
        key, n = exp.arg
        rows = [d for d in (rep or {}).get("devices", []) if d.get(key)]
        if len(rows) == n:
            return None
        names = ", ".join(d["bdf"] or d["uid"] for d in rows[:8]) + (" ..." if len(rows) > 8
                                                                    else "")
        return f"{want}, but there are {len(rows)}" + (f" ({names})" if rows else "")
    if k == "pci-ser":
        return _check_pci_ser(exp, ctx, want)
    if k in ("flb", "finding", "no-finding", "returns"):
        from pcilu_cli.rehearsal import faults
        return faults.check(exp, ctx, want, _matches)
    if k == "buses-unchanged" and exp.arg == "all":
        bad = []
        for d in (rep or {}).get("devices", []):
            if d.get("secondary") is None:
                continue
            p = find_device(ctx.prev, d["uid"])
            if p is not None and (p["secondary"], p["subordinate"]) != \
                    (d["secondary"], d["subordinate"]):
                bad.append(f"{d['uid']} {_buses(p)} -> {_buses(d)}")
        return f"{want}, but {'; '.join(bad)}" if bad else None

    # per-device expectations
    bdf, val = exp.arg if isinstance(exp.arg, tuple) else (exp.arg, None)
    d = find_device(rep, bdf)
    if d is None:
        return f"{want}, but no function {bdf} exists in this generation"
    if k in _FLAG:
        key, wanted = _FLAG[k]
        got = bool(d.get(key))
        if got == wanted:
            return None
        if key != "enumerated" and not d.get("enumerated"):
            return f"{want}, but it was not enumerated"
        yes, no = _SAYS[key]
        return f"{want}, but {yes if got else no}"
    if k == "refcount":
        got = d.get("outgoing_refcount", 0) if d.get("outgoing") else 0
        if got == val:
            return None
        return f"{want}, but it is {got}" + ("" if d.get("outgoing") else " (not outgoing)")
    if k == "acs-ctrl":
        got = d.get("acs_ctrl")
        if got == val:
            return None
        return f"{want}, but " + ("it has no ACS capability" if got is None
                                  else f"it is {got:#06x}")
    if k == "ari-forwarding":
        got = d.get("ari_forwarding")
        if got is None:
            return f"{want}, but it is not a bridge"
        return None if bool(got) == val else \
            f"{want}, but it is {'enabled' if got else 'disabled'}"
    if k in ("buses", "buses-unchanged"):
        if d.get("secondary") is None:
            return f"{want}, but it is not a bridge"
        now = (d["secondary"], d["subordinate"])
        if k == "buses-unchanged" or val == "unchanged":
            p = find_device(ctx.prev, d["uid"])
            if p is None:
                return f"{want}, but it did not exist before this step"
            if (p["secondary"], p["subordinate"]) == now:
                return None
            return f"{want} ({_buses(p)}), but they are {_buses(d)}"
        if now == tuple(val):
            return None
        return f"{want}, but they are {_buses(d)}"
    raise AssertionError(k)  # pragma: no cover


def _matches(m: dict, line: str) -> bool:
    if m["regex"] is not None:
        return m["regex"].search(line) is not None
    return m["text"] in line


def pci_ser_view(machine, which: str):
    """(decoded pci_ser JSON, None) of the generation's outgoing/incoming blob, or (None, why)."""
    k = getattr(machine, "kernel", None)
    if k is None:
        return None, "this generation has no running kernel"
    from pcilu_cli.state import pci_ser_json
    doc = pci_ser_json(k, which)
    if doc is None:
        return None, f"there is no {which} struct pci_ser"
    return doc, None


def _check_pci_ser(exp, ctx, want) -> str | None:
    a = exp.arg
    doc, why = pci_ser_view(ctx.machine, a["which"])
    if doc is None:
        return None if not a["exists"] else f"{want}, but {why}"
    if not a["exists"]:
        return f"{want}, but it exists with {doc['nr_devices']} entries"
    if "nr_devices" in a and doc["nr_devices"] != a["nr_devices"]:
        return f"{want}, but it has {doc['nr_devices']} entries"
    if "max_nr_devices" in a and doc.get("max_nr_devices") != a["max_nr_devices"]:
        return f"{want}, but it has room for {doc.get('max_nr_devices')}"
    if "slots" in a:
        by_slot = {e["slot"]: e for e in doc["devices"]}
        for i, s in enumerate(a["slots"]):
            e = by_slot.get(i)
            if s is None:
                if e is not None:
                    return f"{want}, but slot {i} holds {e['bdf']} (refcount {e['refcount']})"
                continue
            if e is None:
                return f"{want}, but slot {i} is free"
            if e["bdf"] != s[0]:
                return f"{want}, but slot {i} holds {e['bdf']}"
            if s[1] is not None and e["refcount"] != s[1]:
                return f"{want}, but slot {i} ({e['bdf']}) has refcount {e['refcount']}"
    return None
