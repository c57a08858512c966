# SPDX-License-Identifier: GPL-2.0-only
"""Presentation of a fabric: JSON facts for scripts and an `lspci -tv`-like tree for people.

Reusable by later commands (state files): pass any Fabric.  rich is imported only inside
``render_tree``.

API:
    function_facts(fabric, fn) -> dict        the live-update-relevant facts of one function
    fabric_to_json(fabric) -> dict            {"kind": "fabric", "name", "source", "platform",
                                              "roots", "functions": [...], "diagnostics"}
    function_label(fabric, fn) -> str         one line of facts for people
    render_tree(fabric, title=None, marks=None)   a rich Tree (print with a Console)
    tree_lines(fabric, title=None, marks=None, paint=None)   the same tree as plain lines

``marks`` is ``{uid: [(word, style)]}``: words appended to a function's line in brackets
(``[out=2] [in]``), drawn in ``style`` (a rich style name) on a terminal; ``paint(word,
style)`` colours them for the plain tree. The words come from the CLI (which knows the
generation's kernel); this layer only draws them.
"""
from __future__ import annotations

from pcilu_cli.abi.bdf import format_bdf, format_bus, format_devfn
from pcilu_cli.fabric.quirks import needs_acs_quirk


def _kind(fn) -> str:
    from pcilu_cli.fabric.function_spec import kind_of
    if fn.is_virtfn:
        return "vf"
    return kind_of(fn)


def function_facts(fabric, fn) -> dict:
    cur = fabric.current_bdf(fn)
    d = {
        "uid": fn.uid,
        "bdf": format_bdf(*cur) if cur else None,
        "reachable": cur is not None,
        "parent": fn.upstream.uid if fn.upstream is not None else None,
        "kind": _kind(fn),
        "vendor": f"{fn.vendor:04x}",
        "device": f"{fn.device:04x}",
        "class": f"{fn.class_code:06x}",
        "header_type": fn.header_type,
        "multifunction": fn.multifunction,
        "bus_master": fn.bus_master,
        "pcie_type": fn.pcie_type,
        "config_size": fn.cfg.size,
        "power_state": fn.power_state,
        "is_virtfn": fn.is_virtfn,
        "physfn": fn.physfn.uid if fn.physfn is not None else None,
        "acs_quirk": needs_acs_quirk(fn.vendor, fn.device, fn),
    }
    if fn.is_bridge:
        p, s, sub = fn.bus_numbers()
        d["bus"] = {"primary": p, "secondary": s, "subordinate": sub}
    if fn.pcie_cap is not None:
        d["ari_forwarding_supported"] = fn.ari_forwarding_supported
        d["ari_forwarding"] = fn.ari_forwarding
    if fn.acs_cap_offset is not None:
        d["acs_cap"] = f"{fn.acs_cap:04x}"
        d["acs_ctrl"] = f"{fn.acs_ctrl:04x}"
    if fn.ari_cap is not None:
        d["ari_next_function"] = fn.ari_next_function
    sr = fn.sriov
    if sr is not None:
        d["sriov"] = {"total_vfs": sr.total_vfs, "num_vfs": sr.num_vfs,
                      "vf_enable": sr.vf_enable, "first_vf_offset": sr.first_vf_offset,
                      "vf_stride": sr.vf_stride, "vf_device": f"{sr.vf_device:04x}",
                      "virtfns": [v.uid for v in fn.virtfns or ()]}
    knobs = {k: v for k, v in (fn._knobs or {}).items() if k != "power_state"}
    if knobs:
        d["knobs"] = knobs
    return d


def fabric_to_json(fabric) -> dict:
    return {
        "kind": "fabric",
        "name": fabric.name,
        "source": fabric.source,
        "platform": fabric.platform,
        "roots": [{"domain": f"{r.domain:04x}", "bus": f"{r.number:02x}"}
                  for r in fabric.roots],
        "functions": [function_facts(fabric, fn) for fn in fabric.functions()],
        "diagnostics": [d.to_json() for d in fabric.diagnostics],
    }


def function_label(fabric, fn) -> str:
    cur = fabric.current_bdf(fn)
    addr = format_devfn(cur[2]) if cur else f"({fn.uid}: unreachable)"
    parts = [addr]
    if fn.is_bridge:
        p, s, sub = fn.bus_numbers()
        parts.append(f"[{s:02x}-{sub:02x}]" if s or sub else "[no bus]")
    parts.append(f"{fn.vendor:04x}:{fn.device:04x}")
    parts.append(_kind(fn))
    parts.append("BusMaster+" if fn.bus_master else "BusMaster-")
    if fn.acs_cap_offset is not None:
        parts.append(f"ACSCtl={fn.acs_ctrl:#06x}")
    if fn.pcie_type in ("root_port", "downstream") and fn.pcie_version and fn.pcie_version >= 2:
        parts.append(f"ARIFwd{'+' if fn.ari_forwarding else '-'}")
    if fn.ari_cap is not None:
        parts.append("ARI")
    sr = fn.sriov
    if sr is not None:
        parts.append(f"SR-IOV {sr.num_vfs}/{sr.total_vfs} VFs{'+' if sr.vf_enable else '-'}")
    if fn.cfg.size < 256:
        parts.append(f"cfg{fn.cfg.size}:caps-unknown")
    ps = fn.power_state
    if ps != "D0":
        parts.append(ps)
    if fn.knob("reset_on_kexec"):
        parts.append("reset_on_kexec")
    if needs_acs_quirk(fn.vendor, fn.device, fn):
        parts.append("acs_quirk")
    return " ".join(parts)


def _marked_text(fabric, fn, marks):
    from rich.text import Text
    t = Text(function_label(fabric, fn))
    for word, style in (marks or {}).get(fn.uid, ()):
        t.append(" ")
        t.append(f"[{word}]", style=style)
    return t


def render_tree(fabric, title: str | None = None, marks: dict | None = None,
                keep: set | None = None):
    """``keep``: if given, only functions whose uid is in it are drawn (with what is below
    them, filtered the same way); root buses with nothing kept are left out."""
    from rich.markup import escape
    from rich.tree import Tree
    tree = Tree(escape(title or f"fabric {fabric.name}"))

    def add(node, fn):
        sub = node.add(_marked_text(fabric, fn, marks))
        for vf in fn.virtfns or ():
            if keep is None or vf.uid in keep:
                sub.add(_marked_text(fabric, vf, marks))
        for devfn in sorted(fn.downstream):
            if keep is None or fn.downstream[devfn].uid in keep:
                add(sub, fn.downstream[devfn])

    for r in fabric.roots:
        fns = [r.functions[d] for d in sorted(r.functions)
               if keep is None or r.functions[d].uid in keep]
        if keep is not None and not fns:
            continue
        rn = tree.add(escape(f"[{format_bus(r.domain, r.number)}]"))
        for fn in fns:
            add(rn, fn)
    return tree


def tree_lines(fabric, title: str | None = None, marks: dict | None = None, paint=None,
               keep: set | None = None):
    """The same tree as :func:`render_tree`, as plain indented lines (for large fabrics, where
    laying out a rich Tree of hundreds of thousands of nodes takes seconds)."""
    yield title or f"fabric {fabric.name}"
    marks = marks or {}

    def line(fn, depth):
        s = "  " * depth + function_label(fabric, fn)
        for word, style in marks.get(fn.uid, ()):
            w = f"[{word}]"
            s += " " + (paint(w, style) if paint else w)
        return s

    def walk(fn, depth):
        yield line(fn, depth)
        for vf in fn.virtfns or ():
            if keep is None or vf.uid in keep:
                yield line(vf, depth + 1)
        for devfn in sorted(fn.downstream):
            if keep is None or fn.downstream[devfn].uid in keep:
                yield from walk(fn.downstream[devfn], depth + 1)

    for r in fabric.roots:
        fns = [r.functions[d] for d in sorted(r.functions)
               if keep is None or r.functions[d].uid in keep]
        if keep is not None and not fns:
            continue
        yield f"  [{format_bus(r.domain, r.number)}]"
        for fn in fns:
            yield from walk(fn, 2)
