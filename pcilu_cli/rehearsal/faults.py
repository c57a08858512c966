# SPDX-License-Identifier: GPL-2.0-only
"""Scenario steps for faults and driver behaviour, their expectations, and the raw-blob start.

Steps (each runs in the simulated kernel, so ``refused``/``panic`` apply; see
docs/scenarios.md):

``driver: {bdf, forget: unpreserve|finish|null}``  the driver's file callbacks skip
    ``pci_liveupdate_unpreserve()`` / ``pci_liveupdate_finish()`` from now on
``preserve-file: {session, token}`` (or ``preserve-file: true``)  a file with no device
``pci-preserve: BDF``  ``pci_liveupdate_preserve()`` with no file (``-ENOENT`` without one)
``corrupt: {which, field, value, slot | bdf}``  overwrite a ``struct pci_ser`` field
``freeze``  shutdown began (every device frozen), no kexec follows
``reboot``  a normal reboot's device shutdown (no kexec: Bus Master untouched)
``is-outgoing: BDF``  ``pci_liveupdate_is_outgoing()``; expect its answer with ``returns``
``restore-state: BDF`` / ``rebind: BDF``  ``pci_enable_acs()`` runs again
``register-flb: again|other-handler|same-compatible|table-full|config-n``

Expectations: ``flb: {refcount, finished, retrieved, retrieve_failures, blob_frees}`` (the
``enumerate --json`` ``flb`` object), ``finding: TEXT`` / ``no-finding`` (the report's
findings, e.g. the v6 double free), ``returns: true|false`` (the answer of ``is-outgoing``).

Top-level ``flb: {entries, max_nr_devices, nr_devices, name, count}`` or ``flb: {file, name,
count}``: generation 0 is not a fresh boot but a kernel booted from that raw
``struct pci_ser`` (as ``pcilu kexec --fabric F --flb BLOB [--flb-name] [--flb-count]``).
"""
from __future__ import annotations

from pathlib import Path

from pcilu_cli.kernel import faults as kf

ACTIONS = {"driver", "preserve-file", "pci-preserve", "corrupt", "freeze", "reboot",
           "is-outgoing", "restore-state", "rebind", "register-flb"}
EXPECT_KINDS = {"flb", "finding", "no-finding", "returns"}
FLB_KEYS = {"refcount": "incoming_refcount", "finished": "finished", "retrieved": "retrieved",
            "retrieve_failures": "retrieve_failures", "blob_frees": "blob_frees",
            "registered": "registered"}
START_KEYS = {"entries", "max_nr_devices", "nr_devices", "name", "count", "file"}


def title(action: str, a: dict) -> str:
    if action == "driver":
        return f"driver {a['bdf']} forgets {a['forget']}" if a["forget"] else \
            f"driver {a['bdf']} behaves"
    if action == "corrupt":
        where = f"slot {a['slot']}" if a.get("slot") is not None else (a.get("bdf") or "")
        return f"corrupt {a['which']} {a['field']} {where}".rstrip() + f" = {a['value']}"
    if action == "register-flb":
        return f"register-flb ({a['mode']})"
    if "bdf" in a:
        return f"{action} {a['bdf']}"
    return action


def parse(v, action, a, s, key, known, index, _known) -> dict:
    """Validate one fault step's argument (``v`` is the scenario's validator)."""
    w = f"step {index} ({action})"
    if action in ("pci-preserve", "is-outgoing", "restore-state", "rebind"):
        return {"bdf": _known(v, known, v.bdf(a, w, s, key), s, key, w)}
    if action in ("freeze", "reboot"):
        if a not in (None, True):
            v.err(f"{w} takes no argument", s, key)
        return {}
    if action == "driver":
        v.keys(a, {"bdf", "forget"}, w, s, key)
        if "bdf" not in a:
            v.err(f"{w}: missing 'bdf'", a)
        forget = a.get("forget")
        if forget is not None and forget not in kf.DRIVER_FAULTS:
            v.err(f"{w}: forget must be one of {', '.join(kf.DRIVER_FAULTS)} or null", a,
                  "forget", "forget")
        return {"bdf": _known(v, known, v.bdf(a["bdf"], w, a, "bdf"), a, "bdf", w),
                "forget": forget}
    if action == "preserve-file":
        if a is None or a is True:
            return {"session": "pcilu", "token": None}
        v.keys(a, {"session", "token"}, w, s, key)
        return {"session": v.str_(a.get("session", "pcilu"), "session", a, "session"),
                "token": None if a.get("token") is None else
                v.int_(a["token"], "token", a, "token", 0, 2**64 - 1)}
    if action == "corrupt":
        v.keys(a, {"which", "field", "value", "slot", "bdf"}, w, s, key)
        which = a.get("which", "outgoing")
        if which not in ("outgoing", "incoming"):
            v.err(f"{w}: which must be outgoing or incoming", a, "which", "which")
        fld = a.get("field")
        if fld not in kf.CORRUPT_FIELDS:
            v.err(f"{w}: field must be one of {', '.join(kf.CORRUPT_FIELDS)}", a, "field",
                  "field")
        if "value" not in a:
            v.err(f"{w}: missing 'value'", a)
        out = {"which": which, "field": fld,
               "value": v.int_(a["value"], "value", a, "value", 0, 0xFFFFFFFF),
               "slot": None, "bdf": None}
        if fld in ("refcount", "domain", "bdf"):
            if ("slot" in a) == ("bdf" in a):
                v.err(f"{w}: give exactly one of 'slot' or 'bdf' for an entry field", a)
            if "slot" in a:
                out["slot"] = v.int_(a["slot"], "slot", a, "slot", 0, 1 << 24)
            else:
                out["bdf"] = _known(v, known, v.bdf(a["bdf"], w, a, "bdf"), a, "bdf", w)
        return out
    if action == "register-flb":
        mode = "again" if a in (None, True) else a
        if mode not in kf.REGISTER_MODES:
            v.err(f"{w}: one of {', '.join(kf.REGISTER_MODES)}", s, key)
        return {"mode": mode}
    raise AssertionError(action)  # pragma: no cover


def apply(m, st, ctx) -> None:
    """Run one fault step on the Machine ``m``."""
    a = st.args
    act = st.action
    if act == "driver":
        m.kernel_op(kf.set_driver_fault, a["bdf"], a["forget"])
    elif act == "preserve-file":
        m.kernel_op(kf.preserve_file_without_device, a["session"], a["token"])
    elif act == "pci-preserve":
        m.kernel_op(kf.pci_preserve_direct, a["bdf"])
    elif act == "corrupt":
        m.kernel_op(kf.corrupt, a["which"], a["field"], a["value"], slot=a["slot"],
                    bdf=a["bdf"])
    elif act == "freeze":
        m.kernel_op(lambda k: k.freeze())
    elif act == "reboot":
        m.kernel_op(kf.reboot)
    elif act == "is-outgoing":
        ctx.value = m.kernel_op(kf.is_outgoing, a["bdf"])["value"]
    elif act == "restore-state":
        m.kernel_op(kf.restore_state, a["bdf"])
    elif act == "rebind":
        m.kernel_op(kf.rebind, a["bdf"])
    elif act == "register-flb":
        m.kernel_op(kf.register_flb, a["mode"])


# ---- expectations -------------------------------------------------------------------------

def parse_expectation(v, kind, arg, item, ew, step, E, matcher) -> list:
    if kind == "flb":
        v.keys(arg, set(FLB_KEYS), ew, item, kind)
        out = []
        for k, val in arg.items():
            if k in ("finished", "retrieved", "registered"):
                val = v.bool_(val, f"{ew} {k}", arg, k)
                txt = f"PCI FLB {'' if val else 'not '}{k}"
            else:
                val = v.int_(val, f"{ew} {k}", arg, k, 0, 1 << 31)
                txt = f"PCI FLB {k.replace('_', ' ')} {val}"
            out.append(E((k, val), txt))
        return out
    if kind in ("finding", "no-finding"):
        m = matcher(v, arg, ew, item, kind, allow_scope=False)
        return [E(m, ("a finding " if kind == "finding" else "no finding ") + m["desc"])]
    if kind == "returns":
        if step.action != "is-outgoing":
            v.err(f"{ew}: only an 'is-outgoing' step returns a value", item, kind, kind)
        val = v.bool_(arg, ew, item, kind)
        return [E(val, f"it returns {'true' if val else 'false'}")]
    raise AssertionError(kind)  # pragma: no cover


def check(exp, ctx, want, matches) -> str | None:
    rep = ctx.report or {}
    if exp.kind == "flb":
        key, val = exp.arg
        flb = rep.get("flb")
        if not flb:
            return f"{want}, but this generation has no kernel"
        got = flb.get(FLB_KEYS[key])
        return None if got == val else f"{want}, but it is {got!r}"
    if exp.kind in ("finding", "no-finding"):
        hits = [f for f in rep.get("findings") or () if matches(exp.arg, f)]
        if exp.kind == "finding" and not hits:
            return f"{want}, but the report has {len(rep.get('findings') or ())} findings"
        if exp.kind == "no-finding" and hits:
            return f"{want}, but it says {hits[0]!r}"
        return None
    if exp.kind == "returns":
        got = getattr(ctx, "value", None)
        if ctx.result != "ok":
            return f"{want}, but the step was {ctx.result}"
        return None if got == exp.arg else f"{want}, but it returned {got!r}"
    raise AssertionError(exp.kind)  # pragma: no cover


# ---- raw-blob start -----------------------------------------------------------------------

def parse_start(v, arg, doc, base_dir) -> dict:
    """The top-level ``flb`` key: a raw ``struct pci_ser`` (flex layout) the previous kernel
    left, from a file or written inline."""
    from pcilu_cli.abi.bdf import parse_bdf, pci_dev_id
    v.keys(arg, START_KEYS, "flb", doc, "flb")
    out = {"name": None if arg.get("name") is None else
           v.str_(arg["name"], "flb name", arg, "name"),
           "count": None if arg.get("count") is None else
           v.int_(arg["count"], "flb count", arg, "count", 0, 2**63 - 1)}
    if out["name"] is not None and not 0 < len(out["name"].encode()) < 48:
        v.err("flb name must be 1..47 bytes (luo_flb_ser.name is char[48])", arg, "name",
              "name")
    if "file" in arg:
        if "entries" in arg:
            v.err("flb: give 'file' or 'entries', not both", arg, "file", "flb")
        p = Path(base_dir) / v.str_(arg["file"], "flb file", arg, "file")
        try:
            out["blob"] = p.read_bytes()
        except OSError as e:
            v.err(f"flb file {arg['file']!r}: {e.strerror or e}", arg, "file", "file")
        return out
    ents = arg.get("entries")
    if not isinstance(ents, list):
        v.err("flb needs 'entries' (a list of BDFs or {bdf, refcount, domain}) or 'file'",
              arg, "entries", "flb")
    packed = []
    for i, e in enumerate(ents):
        if e is None:
            packed.append((0, 0, 0))
            continue
        if not isinstance(e, dict):
            e = {"bdf": e}
        v.keys(e, {"bdf", "refcount"}, f"flb entry {i}", ents, i)
        try:
            dom, bus, devfn = parse_bdf(v.str_(e.get("bdf"), f"flb entry {i} bdf", e, "bdf"))
        except ValueError as exc:
            v.err(f"flb entry {i}: {exc}", e, "bdf", "bdf")
        rc = v.int_(e.get("refcount", 1), "refcount", e, "refcount", 0, 0xFFFF)
        packed.append((dom, pci_dev_id(bus, devfn), rc))
    mx = v.int_(arg.get("max_nr_devices", len(packed)), "max_nr_devices", arg,
                "max_nr_devices", 0, 1 << 24)
    nr = v.int_(arg.get("nr_devices", sum(1 for p in packed if p[2])), "nr_devices", arg,
                "nr_devices", 0, 0xFFFFFFFF)
    from pcilu_cli.abi import pci
    body = b"".join(pci.PCI_DEV_SER.pack(*p) for p in packed)
    out["blob"] = pci.PCI_SER_FLEX.pack(mx, nr) + body \
        + bytes(pci.PCI_DEV_SER_SIZE * max(0, mx - len(packed)))
    return out


def boot(sc):
    """Generation 0 of a scenario with a top-level ``flb``."""
    from pcilu_cli.state import Machine
    st = sc.start
    return Machine.boot_from_blob(sc.fabric.copy(), st["blob"], profile=sc.profile,
                                  params=sc.cmdline, file=sc.path, flb_name=st["name"],
                                  flb_count=st["count"])
