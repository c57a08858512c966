# SPDX-License-Identifier: GPL-2.0-only
"""Graphviz (DOT) of a fabric, drawn from the ``fabric show --json`` document and the Live
Update marks of one generation (``pathmarks``): one cluster per PCI domain, a node per root
bus and per function (BDF, kind, bus range, vendor:device, the marks), an edge from each
function to what sits below it. The preserved path is drawn green and bold, incoming devices
blue, devices that lost Bus Master orange, skipped bridges and refusals red.

    text = fabric_dot(fabric_doc, marks=None)     marks: {uid: marks} from generation_marks

Every string taken from a file goes into a double-quoted DOT ID with ``\\`` and ``"``
escaped and control characters dropped, so a hostile name cannot end the string.
"""
from __future__ import annotations

from pcilu_cli.cli.pathmarks import tokens

# (fill, border) per mark, strongest first
COLOURS = [("skipped", "#ffd6d6", "#c62828"), ("refused", "#ffd6d6", "#c62828"),
           ("outgoing", "#d7f5dc", "#1a7f37"), ("incoming", "#d6e8ff", "#0b57d0"),
           ("bm_lost", "#ffe9c7", "#d97706"), ("finished", "#e3eefc", "#5b7db1"),
           ("reconfigured", "#f3e0f7", "#8e24aa"), ("not_enumerated", "#eeeeee", "#9e9e9e")]


def q(text) -> str:
    """A DOT double-quoted string of ``text`` (no control characters, quotes escaped)."""
    s = "".join(ch if ch >= " " and ch != "\x7f" else " " for ch in str(text))
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _label(lines) -> str:
    """A multi-line node label: each line escaped, joined with DOT's ``\\n``."""
    return '"' + "\\n".join(q(ln)[1:-1] for ln in lines) + '"'


def fabric_dot(doc: dict, marks: dict | None = None, title: str | None = None) -> str:
    marks = marks or {}
    fns = doc.get("functions") or []
    out = [f"digraph {q(title or 'pcilu fabric ' + str(doc.get('name') or ''))} {{",
           '  graph [rankdir=LR, fontname="Helvetica", fontsize=11, nodesep=0.15];',
           '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", color="#555555",'
           ' fontname="Helvetica", fontsize=10];',
           '  edge [color="#888888", arrowsize=0.6];']
    by_uid = {f.get("uid"): f for f in fns}
    roots: dict = {}               # (domain, bus) -> [uid]
    for f in fns:
        if f.get("parent") is None and not f.get("is_virtfn"):
            bdf = f.get("bdf") or ""
            key = (bdf[:4], bdf[5:7]) if len(bdf) >= 7 else ("?", "?")
            roots.setdefault(key, []).append(f.get("uid"))
    for r in doc.get("roots") or []:
        roots.setdefault((r.get("domain"), r.get("bus")), [])
    domains = sorted({d for d, _b in roots}, key=str)
    for dom in domains:
        out.append(f"  subgraph {q('cluster_domain_' + str(dom))} {{")
        out.append(f"    label={q('domain ' + str(dom))}; style=dashed; color=\"#bbbbbb\";")
        for (d, b) in sorted(k for k in roots if k[0] == dom):
            out.append(f"    {q(f'bus:{d}:{b}')} [shape=ellipse, fillcolor=\"#f4f4f4\", "
                       f"label={q(f'root bus {d}:{b}')}];")
        for f in fns:
            bdf = f.get("bdf") or ""
            if (bdf[:4] if len(bdf) >= 4 else "?") != dom:
                continue
            out.append("    " + _node(f, marks.get(f.get("uid"), {})))
        out.append("  }")
    for f in fns:                                          # unreachable ones (no BDF)
        if not f.get("bdf"):
            out.append("  " + _node(f, marks.get(f.get("uid"), {})))
    for f in fns:
        uid = f.get("uid")
        parent = f.get("physfn") if f.get("is_virtfn") else f.get("parent")
        if parent is not None and parent in by_uid:
            src = q(f"fn:{parent}")
        elif parent is None and f.get("bdf"):
            bdf = f["bdf"]
            src = q(f"bus:{bdf[:4]}:{bdf[5:7]}")
        else:
            continue
        mk = marks.get(uid, {})
        attrs = ' [color="#1a7f37", penwidth=2.2]' if "outgoing" in mk else \
            (' [color="#0b57d0", penwidth=1.6]' if mk.get("incoming") else "")
        if f.get("is_virtfn"):
            attrs = attrs[:-1] + ", style=dashed]" if attrs else " [style=dashed]"
        out.append(f"  {src} -> {q(f'fn:{uid}')}{attrs};")
    out.append("}")
    return "\n".join(out) + "\n"


def _node(f: dict, mk: dict) -> str:
    lines = [f.get("bdf") or f"({f.get('uid')}: unreachable)"]
    kind = str(f.get("kind") or "")
    bus = f.get("bus")
    if isinstance(bus, dict):
        kind += f" [{bus.get('secondary', 0):02x}-{bus.get('subordinate', 0):02x}]"
    lines.append(kind)
    lines.append(f"{f.get('vendor')}:{f.get('device')}")
    words = [w for w, _s in tokens(mk)]
    if words:
        lines.append(" ".join(words))
    attrs = [f"label={_label(lines)}"]
    for key, fill, border in COLOURS:
        if key in mk:
            attrs += [f'fillcolor="{fill}"', f'color="{border}"']
            if key in ("outgoing", "skipped", "refused"):
                attrs.append("penwidth=2.2")
            break
    return f"{q('fn:' + str(f.get('uid')))} [{', '.join(attrs)}];"
