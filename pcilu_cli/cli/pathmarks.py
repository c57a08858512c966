# SPDX-License-Identifier: GPL-2.0-only
"""The Live Update path of one generation, as marks per function — read from the JSON documents
the CLI prints (``enumerate --json``, ``fabric show --json``, ``rehearse --json``), so the
terminal tree, the Graphviz graph and the HTML report all show the same facts.

A function's marks in a generation (keys present only when true / known):

    outgoing        int    the outgoing refcount (preserved for the next kernel)
    incoming        True   preserved by the previous kernel, not finished yet
    finished        True   was incoming, finished in this generation
    bm_lost         True   the previous kernel's shutdown cleared its Bus Master Enable
                           (``bus_master_cleared``; or, for documents without that key, the
                           previous generation had it set and this one has it clear)
    skipped         True   a bridge the kernel skipped ("Cannot reconfigure bridge during Live
                           Update, skipping" / "Not assigning bus numbers ...")
    reconfigured    (old, new)  a bridge whose secondary-subordinate range changed since the
                           previous generation
    moved           old BDF  the function answers at another address than before
    not_enumerated  True   in the fabric but not enumerated by this kernel
    refused         [(errno, message)]  a preserve (or other step) the kernel refused
    diverged        [(field, message)]  ``verify``: the real host showed another value

    marks = generation_marks(enum_doc, prev_enum_doc=None, refused=None, diverged=None)
    tokens(marks_of_one_function) -> [(text, style)]   short ASCII words, e.g. ("out=2", ...)
"""
from __future__ import annotations

import re

# the PCI core's log lines that name a bridge whose child bus was not (re)numbered
_SKIP_RE = re.compile(r"^pci ([0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]): "
                      r"(Cannot reconfigure bridge during Live Update, skipping"
                      r"|Not assigning bus numbers)")

STYLE = {"outgoing": "bold green", "incoming": "bold cyan", "finished": "cyan",
         "bm_lost": "bold yellow", "skipped": "bold red", "reconfigured": "magenta",
         "moved": "magenta", "not_enumerated": "red", "refused": "bold red",
         "diverged": "bold red"}

LEGEND = [("out=N", "outgoing: preserved for the next kernel, refcount N"),
          ("in", "incoming: preserved by the previous kernel"),
          ("finished", "was incoming, finished"),
          ("BM-lost", "Bus Master cleared at kexec"),
          ("SKIPPED", "bridge skipped by the Live Update scan"),
          ("buses=A>B", "bridge bus range changed"),
          ("moved=BDF", "function now answers at another address"),
          ("not-enumerated", "not enumerated by this kernel"),
          ("refused=-E...", "the kernel refused it")]


def skipped_bridges(messages) -> set:
    """BDFs of the bridges the kernel log says it skipped."""
    out = set()
    for ln in messages or ():
        m = _SKIP_RE.match(ln) if isinstance(ln, str) else None
        if m:
            out.add(m.group(1).lower())
    return out


def _range(d):
    if d.get("secondary") is None:
        return None
    return (d["secondary"], d["subordinate"])


def generation_marks(enum_doc: dict, prev_enum_doc: dict | None = None,
                     refused=None, diverged=None) -> dict:
    """``{uid: marks}`` for the functions of one generation that have any mark.
    ``refused``: ``[(bdf, errno, message)]`` the kernel refused in this generation;
    ``diverged``: ``[(bdf, field, message)]`` from a ``verify --json`` of this generation."""
    devices = enum_doc.get("devices") or []
    prev = {d.get("uid"): d for d in (prev_enum_doc or {}).get("devices") or []}
    by_bdf = {d.get("bdf"): d.get("uid") for d in devices if d.get("bdf")}
    skipped = skipped_bridges(enum_doc.get("messages"))
    cleared = enum_doc.get("bus_master_cleared")
    cleared_uids = None if cleared is None else {c.get("uid") for c in cleared}
    out: dict = {}
    for d in devices:
        uid = d.get("uid")
        mk = {}
        if d.get("outgoing"):
            mk["outgoing"] = int(d.get("outgoing_refcount") or 0)
        if d.get("incoming"):
            mk["incoming"] = True
        elif d.get("was_incoming"):
            mk["finished"] = True
        if not d.get("enumerated", True):
            mk["not_enumerated"] = True
        if d.get("bdf") and d["bdf"].lower() in skipped:
            mk["skipped"] = True
        p = prev.get(uid)
        if cleared_uids is not None:
            if uid in cleared_uids:
                mk["bm_lost"] = True
        elif p is not None and p.get("bus_master") and not d.get("bus_master") \
                and not p.get("outgoing"):
            mk["bm_lost"] = True
        if p is not None:
            a, b = _range(p), _range(d)
            if a != b and (a is not None or b is not None):
                mk["reconfigured"] = (a, b)
            if p.get("bdf") and d.get("bdf") and p["bdf"] != d["bdf"]:
                mk["moved"] = p["bdf"]
        if mk:
            out[uid] = mk
    for bdf, errno, message in refused or ():
        uid = by_bdf.get(bdf, bdf)
        out.setdefault(uid, {}).setdefault("refused", []).append((errno, message))
    for bdf, fld, message in diverged or ():
        uid = by_bdf.get(bdf, bdf)
        out.setdefault(uid, {}).setdefault("diverged", []).append((fld, message))
    return out


def _fmt_range(r) -> str:
    return "none" if r is None else f"{r[0]:02x}-{r[1]:02x}"


def tokens(mk: dict) -> list:
    """The short words (and a rich style name each) that mark one function."""
    t = []
    if "outgoing" in mk:
        t.append((f"out={mk['outgoing']}", STYLE["outgoing"]))
    if mk.get("incoming"):
        t.append(("in", STYLE["incoming"]))
    if mk.get("finished"):
        t.append(("finished", STYLE["finished"]))
    if mk.get("bm_lost"):
        t.append(("BM-lost", STYLE["bm_lost"]))
    if mk.get("skipped"):
        t.append(("SKIPPED", STYLE["skipped"]))
    if "reconfigured" in mk:
        a, b = mk["reconfigured"]
        t.append((f"buses={_fmt_range(a)}>{_fmt_range(b)}", STYLE["reconfigured"]))
    if "moved" in mk:
        t.append((f"moved={mk['moved']}", STYLE["moved"]))
    if mk.get("not_enumerated"):
        t.append(("not-enumerated", STYLE["not_enumerated"]))
    for errno, _msg in mk.get("refused", ()):
        e = str(errno or "?")
        t.append((f"refused={e if e.startswith('-') else '-' + e}", STYLE["refused"]))
    for fld, _msg in mk.get("diverged", ()):
        t.append((f"diverged={fld}", STYLE["diverged"]))
    return t
