# SPDX-License-Identifier: GPL-2.0-only
"""The HTML report of ``pcilu report``: one self-contained page drawn from the JSON documents
the CLI prints — ``fabric show --json`` and ``enumerate --json`` of every generation, and
``rehearse --json`` for a scenario — so the page and the JSON never disagree.

What the page shows:
- a strip of the generations (inline SVG): profile, phase, how many devices are outgoing /
  incoming, and the kexecs between them;
- the fabric as a tree (domain → root bus → bridges → functions; BDF, kind, bus range,
  vendor:device) with one column per generation, so a device's story across kexecs reads left
  to right; marks (``pathmarks``) as badges and row classes: ``lu-out`` (preserved path, with
  its refcount), ``lu-in``, ``lu-fin``, ``lu-bm-lost``, ``lu-skipped``, ``lu-reconf``,
  ``lu-moved``, ``lu-noenum``, ``lu-refused`` (with the errno);
- unaffected subtrees collapsed (``<details>`` — no script): a root bus or bridge with no mark
  anywhere below it is closed and its functions listed in one compact line each, and runs of
  more than ``GROUP_RUN`` unaffected siblings next to an affected one fold into one row;
- for a scenario, the steps as a timeline with each expectation's result and the kernel log;
- every generation's kernel log and panic.

Size: at most ``64 KiB + 96 bytes per function + 640 bytes per (affected function ×
generation)`` (README "HTML report"; checked by the tests). Nothing is fetched: styles are
inline, the only graphics inline SVG, and a Content-Security-Policy allows no script and no
network at all. Every string taken from a file is HTML-escaped (``esc``).

    html = render_html(doc)      doc = {"kind": "report", "title", "sources", "generations":
                                 [{"label", "fabric", "enumerate", "refused"}], "rehearsal"}
"""
from __future__ import annotations

import html as _html

from pcilu_cli.cli.pathmarks import generation_marks

GROUP_RUN = 6              # unaffected siblings beyond this many fold into one row
SHORT_KIND = {"root_port": "RP", "switch_upstream": "USP", "switch_downstream": "DSP",
              "upstream": "USP", "downstream": "DSP", "endpoint": "EP",
              "host_bridge": "host", "legacy_endpoint": "legacy EP", "rciep": "RCiEP",
              "rcec": "RCEC", "pcie_pci_bridge": "PCIe-PCI", "pci_pcie_bridge": "PCI-PCIe",
              "bridge": "bridge", "pf": "PF", "vf": "VF"}

_CTRL = {c: None for c in range(32) if c not in (9, 10)}
_CTRL[127] = None


def esc(value) -> str:
    """HTML-escape a value taken from a file (quotes too: it may land in an attribute);
    control characters other than tab and newline are dropped."""
    return _html.escape(str(value).translate(_CTRL), quote=True)


CSS = """
:root{--ok:#1a7f37;--okbg:#dcf5e1;--in:#0b57d0;--inbg:#dbe8fd;--warn:#b45309;--warnbg:#fdebc8;
--bad:#c62828;--badbg:#fde0e0;--mag:#8e24aa;--magbg:#f3e1f7;--mut:#6b7280;--line:#e5e7eb;
--devw:31em;--gw:15em}
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
margin:0;color:#111827;background:#fff}
header,section,footer{padding:0.6em 1.2em}
h1{font-size:1.35em;margin:0.2em 0}h2{font-size:1.1em;margin:0.8em 0 0.4em}
code,pre,.bdf{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:0.95em}
.src{color:var(--mut);margin:0.2em 0}.desc{margin:0.2em 0 0.4em}
.summary{display:flex;flex-wrap:wrap;gap:0.4em;padding:0;margin:0.4em 0;list-style:none}
.summary li{border:1px solid var(--line);border-radius:1em;padding:0.1em 0.7em;background:#f9fafb}
.legend{display:flex;flex-wrap:wrap;gap:0.3em 1em;margin:0.3em 0;color:#374151;font-size:0.92em}
.b{display:inline-block;border-radius:0.35em;padding:0 0.4em;margin:0 0.15em 0.1em 0;
font-size:0.85em;font-weight:600;white-space:nowrap;border:1px solid transparent}
.b-out{background:var(--okbg);color:var(--ok);border-color:#9ad7a9}
.b-in{background:var(--inbg);color:var(--in);border-color:#a9c6f5}
.b-fin{background:#eef2f9;color:#4b6a9b}
.b-bm{background:var(--warnbg);color:var(--warn);border-color:#f3c77c}
.b-skip,.b-ref,.b-panic{background:var(--badbg);color:var(--bad);border-color:#f2a6a6}
.b-reconf,.b-moved{background:var(--magbg);color:var(--mag)}
.b-noenum{background:#eeeeee;color:#555}
.m{color:var(--mut);font-size:0.85em}
.fab{border:1px solid var(--line);border-radius:0.4em;overflow-x:auto}
.row{display:grid;grid-template-columns:var(--devw) repeat(var(--gens),var(--gw));
align-items:center;border-bottom:1px solid #f1f2f4;min-height:1.7em}
.row>span{padding:0.1em 0.4em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.head{position:sticky;top:0;background:#f3f4f6;font-weight:600;z-index:1;
border-bottom:1px solid #d1d5db}
.head .g{border-left:1px solid #d1d5db}
.dev{padding-left:calc(0.4em + var(--d,0)*1.15em)!important}
.g{border-left:1px solid #f1f2f4;min-height:1.7em}
.row>span.g{white-space:normal;overflow:visible}
summary.row{cursor:pointer;list-style:none}summary.row::-webkit-details-marker{display:none}
summary .dev::before{content:"\\25B8";display:inline-block;width:1em;color:var(--mut)}
details[open]>summary .dev::before{content:"\\25BE"}
.leaf .dev::before{content:"";display:inline-block;width:1em}
.bus>summary{background:#f9fafb;font-weight:600}
.kind{color:#374151;font-weight:600;margin:0 0.3em}.id,.rng{color:var(--mut)}
.lu-out>.dev,.lu-out>summary>.dev{box-shadow:inset 4px 0 0 var(--ok)}
.lu-out{background:#f4fbf5}
.lu-in>.dev{font-weight:600}
.lu-skipped,.lu-refused,.lu-diverged{background:#fff6f6}
.lu-skipped>.dev,.lu-refused>.dev,.lu-skipped>summary>.dev,.lu-refused>summary>.dev{
box-shadow:inset 4px 0 0 var(--bad)}
.lu-bm-lost>.dev{box-shadow:inset 4px 0 0 var(--warn)}
.g.absent{background:repeating-linear-gradient(135deg,#fafafa,#fafafa 4px,#f0f0f0 4px,#f0f0f0 8px)}
.quiet{color:#4b5563}
.c{padding:0 0.4em 0 calc(1.4em + var(--d,0)*1.15em);font-size:0.9em;color:#4b5563;
line-height:1.5}.c code{margin-right:0.35em}.c .k{font-weight:600;color:#374151}
.d0{--d:0}.d1{--d:1}.d2{--d:2}.d3{--d:3}.d4{--d:4}.d5{--d:5}.d6{--d:6}.d7{--d:7}.d8{--d:8}.d9{--d:9}.d10{--d:10}.d11{--d:11}.d12{--d:12}.d13{--d:13}.d14{--d:14}.d15{--d:15}

.fold>summary .dev{color:var(--mut);font-style:italic}.wide{grid-column:1/-1}
.gens{display:block;margin:0.4em 0}
.timeline{list-style:none;margin:0;padding:0 0 0 1.2em;border-left:3px solid var(--line)}
.step{position:relative;margin:0 0 0.6em;padding:0.3em 0.6em;border:1px solid var(--line);
border-radius:0.4em}
.step::before{content:"";position:absolute;left:-1.72em;top:0.7em;width:0.8em;height:0.8em;
border-radius:50%;background:var(--ok);border:2px solid #fff}
.step.failed::before,.step.error::before{background:var(--bad)}
.step.skipped::before{background:#9ca3af}
.step.failed,.step.error{border-color:#f2a6a6;background:#fffafa}
.st{font-weight:700;font-size:0.85em;padding:0 0.4em;border-radius:0.3em}
.st-passed{color:var(--ok);background:var(--okbg)}.st-failed,.st-error{color:var(--bad);
background:var(--badbg)}.st-skipped{color:#4b5563;background:#eee}
.exp{list-style:none;margin:0.2em 0;padding:0 0 0 0.5em}
.exp .ok .mk{color:var(--ok);font-weight:700}
.exp .no .mk{color:var(--bad);font-weight:700}
.exp .no{color:var(--bad)}
.kexec{margin:0.2em 0 0.6em -1.2em;padding:0.1em 0.6em;font-weight:600;color:var(--in)}
pre{background:#f6f8fa;border:1px solid var(--line);border-radius:0.3em;padding:0.4em 0.6em;
overflow-x:auto;margin:0.2em 0;white-space:pre-wrap;word-break:break-all}
.panic{color:var(--bad);font-weight:700}
.vt{border-collapse:collapse;margin:0.3em 0;font-size:0.92em}.vt td,.vt th{border:1px solid
var(--line);padding:0.15em 0.5em;text-align:left;vertical-align:top}.vt .divergences td{
background:#fff6f6}
footer{color:var(--mut);font-size:0.85em;border-top:1px solid var(--line);margin-top:1em}
"""


class _Gen:
    """One generation's documents, indexed."""

    def __init__(self, g: dict, prev: "_Gen | None"):
        self.label = str(g.get("label") or "")
        self.enum = g.get("enumerate") or {}
        self.fabric = g.get("fabric") or {}
        self.fns = {f.get("uid"): f for f in self.fabric.get("functions") or []}
        self.devs = {d.get("uid"): d for d in self.enum.get("devices") or []}
        self.marks = generation_marks(self.enum, prev.enum if prev else None,
                                      g.get("refused"), g.get("diverged"))

    def has(self, uid) -> bool:
        return uid in self.fns or uid in self.devs

    def bdf(self, uid):
        d = self.devs.get(uid) or self.fns.get(uid) or {}
        return d.get("bdf")


def _badges(mk: dict) -> list:
    """(css class, text, tooltip) of one function's marks in one generation."""
    out = []
    if "outgoing" in mk:
        out.append(("b-out", f"out \u00d7{mk['outgoing']}", "outgoing: preserved for the next "
                    f"kernel, refcount {mk['outgoing']}"))
    if mk.get("incoming"):
        out.append(("b-in", "incoming", "preserved by the previous kernel"))
    if mk.get("finished"):
        out.append(("b-fin", "finished", "was incoming, finished"))
    if mk.get("bm_lost"):
        out.append(("b-bm", "BM lost", "Bus Master cleared at the kexec into this generation"))
    if mk.get("skipped"):
        out.append(("b-skip", "skipped", "Cannot reconfigure bridge during Live Update, "
                    "skipping"))
    if "reconfigured" in mk:
        a, b = mk["reconfigured"]
        fa = "none" if a is None else f"{a[0]:02x}-{a[1]:02x}"
        fb = "none" if b is None else f"{b[0]:02x}-{b[1]:02x}"
        out.append(("b-reconf", f"buses {fa}\u2192{fb}", "bridge bus range changed"))
    if "moved" in mk:
        out.append(("b-moved", f"was {mk['moved']}", "answers at another address now"))
    if mk.get("not_enumerated"):
        out.append(("b-noenum", "not enumerated", "not enumerated by this kernel"))
    for errno, msg in mk.get("refused", ()):
        e = str(errno or "?")
        out.append(("b-ref", f"refused {e if e.startswith('-') else '-' + e}", msg or ""))
    for fld, msg in mk.get("diverged", ()):
        out.append(("b-ref", f"\u2260 {fld}", msg or "the real host differs"))
    return out


ROW_CLASS = {"outgoing": "lu-out", "incoming": "lu-in", "finished": "lu-fin",
             "bm_lost": "lu-bm-lost", "skipped": "lu-skipped", "reconfigured": "lu-reconf",
             "moved": "lu-moved", "not_enumerated": "lu-noenum", "refused": "lu-refused",
             "diverged": "lu-diverged"}


class _Page:
    def __init__(self, doc: dict):
        self.doc = doc
        self.gens: list[_Gen] = []
        prev = None
        for g in doc.get("generations") or []:
            prev = _Gen(g, prev)
            self.gens.append(prev)
        self._topology()

    # -- topology: parents from the newest generation that knows a function ----------------
    def _topology(self):
        info: dict = {}
        self.first: dict = {}          # the facts as first seen: the device column's label
        order: list = []
        for gen in self.gens:
            for uid, f in gen.fns.items():
                if uid not in info:
                    order.append(uid)
                    self.first[uid] = f
                info[uid] = f
            for uid, d in gen.devs.items():
                if uid not in info:
                    order.append(uid)
                    info[uid] = {"uid": uid, "bdf": d.get("bdf"), "kind": d.get("kind")}
                    self.first[uid] = info[uid]
        self.info = info
        kids: dict = {}
        roots: dict = {}
        for uid in order:
            f = info[uid]
            parent = f.get("physfn") if f.get("is_virtfn") else f.get("parent")
            if parent is not None and parent in info and parent != uid:
                kids.setdefault(parent, []).append(uid)
            else:
                bdf = self._bdf_any(uid)
                key = (bdf[:4], bdf[5:7]) if bdf and len(bdf) >= 7 else ("????", "??")
                roots.setdefault(key, []).append(uid)
        for lst in kids.values():
            lst.sort(key=self._sort_key)
        for lst in roots.values():
            lst.sort(key=self._sort_key)
        self.kids, self.roots = kids, roots
        # a mark other than "lost Bus Master" keeps a subtree open: the kernel clears Bus Master
        # on every device that is not outgoing, so on a big host that alone is most functions
        self.affected = {uid for g in self.gens for uid, mk in g.marks.items()
                         if any(k != "bm_lost" for k in mk)}
        # bottom-up: does anything below (or at) uid carry a mark?
        self.sub_aff: dict = {}
        self.sub_n: dict = {}
        for uid in reversed(self._preorder()):
            ch = kids.get(uid, ())
            self.sub_aff[uid] = uid in self.affected or any(self.sub_aff[c] for c in ch)
            self.sub_n[uid] = 1 + sum(self.sub_n[c] for c in ch)

    def _preorder(self):
        out, stack = [], [u for k in sorted(self.roots) for u in reversed(self.roots[k])]
        seen = set()
        while stack:
            u = stack.pop()
            if u in seen:
                continue
            seen.add(u)
            out.append(u)
            stack.extend(reversed(self.kids.get(u, ())))
        return out

    def _bdf_first(self, uid):
        for g in self.gens:
            b = g.bdf(uid)
            if b:
                return b
        return None

    def _bdf_any(self, uid):
        for g in reversed(self.gens):
            b = g.bdf(uid)
            if b:
                return b
        return None

    def _sort_key(self, uid):
        return (self._bdf_any(uid) or "~", str(uid))

    # -- pieces -------------------------------------------------------------------------------
    def _dev_cell(self, uid, depth) -> str:
        f = self.first[uid]
        bdf = self._bdf_first(uid)
        kind = str(f.get("kind") or "")
        parts = [f'<span class="dev" style="--d:{depth}">']
        parts.append(f'<code class="bdf">{esc(bdf) if bdf else esc("(" + str(uid) + ")")}'
                     '</code>')
        parts.append(f'<span class="kind">{esc(SHORT_KIND.get(kind, kind))}</span>')
        rng = _bus_range(f)
        if rng:
            parts.append(f'<span class="rng">{esc(rng)}</span> ')
        if f.get("vendor") is not None:
            parts.append(f'<span class="id">{esc(f.get("vendor"))}:{esc(f.get("device"))}'
                         '</span>')
        if bdf is None or bdf != uid:
            parts.append(f' <span class="m">{esc(uid)}</span>')
        parts.append("</span>")
        return "".join(parts)

    def _gen_cells(self, uid) -> str:
        out = []
        for g in self.gens:
            if not g.has(uid):
                out.append('<span class="g absent" title="not in this generation"></span>')
                continue
            mk = g.marks.get(uid, {})
            cls = " ".join(ROW_CLASS[k] for k in mk if k in ROW_CLASS)
            d = g.devs.get(uid) or {}
            bits = [f'<span class="b {c}" title="{esc(t)}">{esc(x)}</span>'
                    for c, x, t in _badges(mk)]
            if not bits:
                bm = d.get("bus_master")
                bits.append('<span class="m">' + ("BM+" if bm else "BM\u2212" if bm is not None
                                                  else "") + "</span>")
            cur = g.bdf(uid)
            if cur and cur != self._bdf_first(uid):
                bits.append(f' <code class="m">{esc(cur)}</code>')
            out.append(f'<span class="g {cls}">{"".join(bits)}</span>')
        return "".join(out)

    def _row_class(self, uid) -> str:
        ks = {k for g in self.gens for k in g.marks.get(uid, {})}
        return " ".join(ROW_CLASS[k] for k in ROW_CLASS if k in ks)

    def _compact(self, uids, depth, out):
        """Short lines for functions in an unaffected subtree (every BDF stays on the page):
        a bridge on a line of its own, then consecutive leaves of the same kind, vendor:device
        and Bus Master story on one line."""
        run: list = []

        def sig(u):
            f = self.first[u]
            lost = tuple(i for i, g in enumerate(self.gens) if g.marks.get(u, {}).get("bm_lost"))
            return (str(f.get("kind") or ""), f.get("vendor"), f.get("device"), lost)

        def flush():
            if not run:
                return
            kind, ven, dev, lost = sig(run[0])
            bdfs = " ".join(f"<code>{esc(self._bdf_first(u) or u)}</code>" for u in run)
            what = esc(SHORT_KIND.get(kind, kind)) + (
                f" {esc(ven)}:{esc(dev)}" if ven is not None else "")
            more = f" \u00d7{len(run)}" if len(run) > 1 else ""
            lost_b = "".join(f' <span class="b b-bm">BM lost gen '
                             f'{esc(self.gens[i].enum.get("generation", i))}</span>'
                             for i in lost)
            cls = " lu-bm-lost" if lost else ""
            out.append(f'<div class="c d{min(depth, 15)}{cls}">{bdfs} <span class="k">'
                       f'{what}{more}</span>{lost_b}</div>')
            run.clear()

        for u in uids:
            ch = self.kids.get(u, ())
            if not ch:
                if run and sig(run[-1]) != sig(u):
                    flush()
                run.append(u)
                continue
            flush()
            f = self.first[u]
            kind = str(f.get("kind") or "")
            rng = _bus_range(f)
            rng = f" {rng}" if rng else ""
            kind_s = sig(u)
            lost_b = "".join(f' <span class="b b-bm">BM lost gen '
                             f'{esc(self.gens[i].enum.get("generation", i))}</span>'
                             for i in kind_s[3])
            out.append(f'<div class="c d{min(depth, 15)}"><code>{esc(self._bdf_first(u) or u)}'
                       f'</code> <span class="k">{esc(SHORT_KIND.get(kind, kind))}{esc(rng)} '
                       f'{esc(f.get("vendor") or "")}:{esc(f.get("device") or "")}</span>'
                       f'{lost_b}</div>')
            self._compact(ch, depth + 1, out)
        flush()

    def _node(self, uid, depth, out):
        ch = self.kids.get(uid, ())
        rc = self._row_class(uid)
        data = f'data-bdf="{esc(self._bdf_first(uid) or "")}" data-uid="{esc(uid)}"'
        attrs = f'class="row {rc}" {data}'
        if not ch:
            out.append(f'<div class="row leaf {rc}" {data}>'
                       f'{self._dev_cell(uid, depth)}{self._gen_cells(uid)}</div>')
            return
        if not self.sub_aff[uid]:
            note = f' <span class="m">({_n(self.sub_n[uid] - 1, "function")} below, ' \
                'unaffected)</span></span>'
            out.append(f'<details class="quiet"><summary {attrs}>'
                       f'{self._dev_cell(uid, depth)[:-len("</span>")]}{note}'
                       f'{self._gen_cells(uid)}</summary>')
            self._compact(ch, depth + 1, out)
            out.append("</details>")
            return
        out.append(f'<details open><summary {attrs}>{self._dev_cell(uid, depth)}'
                   f'{self._gen_cells(uid)}</summary>')
        self._children(ch, depth + 1, out)
        out.append("</details>")

    def _children(self, ch, depth, out):
        run: list = []

        def flush():
            if len(run) > GROUP_RUN:
                n = sum(self.sub_n[u] for u in run)
                first, last = self._bdf_any(run[0]) or run[0], self._bdf_any(run[-1]) or run[-1]
                out.append(f'<details class="fold"><summary class="row">'
                           f'<span class="dev wide" style="--d:{depth}">{n} unaffected functions '
                           f'({esc(first)} \u2026 {esc(last)})</span></summary>')
                self._compact(run, depth, out)
                out.append("</details>")
            else:
                for u in run:
                    self._node(u, depth, out)
            run.clear()
        for u in ch:
            if self.sub_aff[u]:
                flush()
                self._node(u, depth, out)
            else:
                run.append(u)
        flush()

    # -- sections -----------------------------------------------------------------------------
    def fabric_section(self) -> str:
        n = max(len(self.gens), 1)
        out = [f'<section id="fabric"><h2>Fabric across generations</h2>'
               f'<div class="fab" style="--gens:{n}">'
               '<div class="row head"><span class="dev">device (BDF, kind, bus range, '
               'vendor:device)</span>']
        for g in self.gens:
            e = g.enum
            out.append(f'<span class="g" data-generation="{esc(e.get("generation", "?"))}">'
                       f'gen {esc(e.get("generation", "?"))} \u00b7 '
                       f'{esc(e.get("profile", ""))} \u00b7 {esc(e.get("phase", ""))}'
                       f'<br><span class="m">{esc(g.label)}</span></span>')
        out.append("</div>")
        for dom in sorted({d for d, _b in self.roots}):
            for key in sorted(k for k in self.roots if k[0] == dom):
                uids = self.roots[key]
                aff = any(self.sub_aff[u] for u in uids)
                total = sum(self.sub_n[u] for u in uids)
                label = f"domain {key[0]} \u00b7 root bus {key[1]}"
                out.append(f'<details class="bus"{" open" if aff else ""}>'
                           f'<summary class="row"><span class="dev">{esc(label)}</span>'
                           f'<span class="g m" style="grid-column:span var(--gens)">'
                           f'{_n(total, "function")}{"" if aff else ", unaffected"}</span>'
                           '</summary>')
                if aff:
                    self._children(uids, 1, out)
                else:
                    self._compact(uids, 1, out)
                out.append("</details>")
        out.append("</div></section>")
        return "".join(out)

    def strip_svg(self) -> str:
        """The generations as circles joined by kexec arrows (inline SVG)."""
        n = len(self.gens)
        if not n:
            return ""
        w = 120 + 190 * n
        out = [f'<svg class="gens" xmlns="http://www.w3.org/2000/svg" width="{w}" height="92" '
               f'viewBox="0 0 {w} 92" role="img" aria-label="generations">']
        for i, g in enumerate(self.gens):
            x = 90 + 190 * i
            e = g.enum
            bad = bool(e.get("panic")) or e.get("phase") == "panicked"
            col = "#c62828" if bad else "#0b57d0"
            if i:
                out.append(f'<line x1="{x - 160}" y1="30" x2="{x - 28}" y2="30" '
                           'stroke="#9ca3af" stroke-width="2"/>'
                           f'<polygon points="{x - 28},30 {x - 36},25 {x - 36},35" '
                           'fill="#9ca3af"/>'
                           f'<text x="{x - 95}" y="24" font-size="11" text-anchor="middle" '
                           'fill="#6b7280">kexec</text>')
            outg = sum(1 for mk in g.marks.values() if "outgoing" in mk)
            inc = sum(1 for mk in g.marks.values() if mk.get("incoming") or mk.get("finished"))
            lost = sum(1 for mk in g.marks.values() if mk.get("bm_lost"))
            out.append(f'<circle cx="{x}" cy="30" r="22" fill="#fff" stroke="{col}" '
                       f'stroke-width="3"/><text x="{x}" y="35" font-size="15" '
                       f'font-weight="700" text-anchor="middle" fill="{col}">'
                       f'{esc(e.get("generation", i))}</text>'
                       f'<text x="{x}" y="68" font-size="11" text-anchor="middle" '
                       f'fill="#374151">{esc(e.get("profile", ""))} \u00b7 '
                       f'{"PANIC" if bad else esc(e.get("phase", ""))}</text>'
                       f'<text x="{x}" y="84" font-size="11" text-anchor="middle" '
                       f'fill="#6b7280">out {outg} \u00b7 in {inc} \u00b7 BM lost {lost}'
                       '</text>')
        out.append("</svg>")
        return "".join(out)

    def summary(self) -> str:
        fns = len(self.info)
        ever_out = sum(1 for u in self.info if any("outgoing" in g.marks.get(u, {})
                                                  for g in self.gens))
        ever_in = sum(1 for u in self.info
                      if any(g.marks.get(u, {}).get("incoming") or g.marks.get(u, {}).get(
                          "finished") for g in self.gens))
        cnt = {k: sum(1 for g in self.gens for mk in g.marks.values() if k in mk)
               for k in ("bm_lost", "skipped", "reconfigured", "refused", "not_enumerated")}
        items = [f"{len(self.gens)} generation{'s' if len(self.gens) != 1 else ''}",
                 f"{fns} functions", f"{ever_out} preserved", f"{ever_in} incoming",
                 f"{cnt['bm_lost']} lost Bus Master", f"{cnt['skipped']} bridges skipped",
                 f"{cnt['reconfigured']} bridges reconfigured",
                 f"{cnt['refused']} refused", f"{cnt['not_enumerated']} not enumerated"]
        return '<ul class="summary">' + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"

    def legend(self) -> str:
        items = [("b-out", "out \u00d7N", "preserved path (outgoing, refcount N)"),
                 ("b-in", "incoming", "preserved by the previous kernel"),
                 ("b-fin", "finished", "was incoming, finished"),
                 ("b-bm", "BM lost", "Bus Master cleared at kexec"),
                 ("b-skip", "skipped", "bridge skipped by the Live Update scan"),
                 ("b-reconf", "buses a\u2192b", "bridge bus range changed"),
                 ("b-noenum", "not enumerated", "not enumerated by this kernel"),
                 ("b-ref", "refused -E\u2026", "refused by the kernel (errno)")]
        return '<div class="legend">' + "".join(
            f'<span><span class="b {c}">{esc(t)}</span> {esc(d)}</span>' for c, t, d in items) \
            + "</div>"

    def steps_section(self) -> str:
        reh = self.doc.get("rehearsal")
        if not reh:
            return ""
        out = ['<section id="steps"><h2>Steps</h2>']
        verdict = "passed" if reh.get("passed") else "FAILED"
        out.append(f'<p><span class="st st-{"passed" if reh.get("passed") else "failed"}">'
                   f'{esc(verdict)}</span> {len(reh.get("steps") or [])} steps, '
                   f'{esc(reh.get("expectations", 0))} expectations, '
                   f'{esc(reh.get("expectations_failed", 0))} failed, '
                   f'{esc(reh.get("steps_skipped", 0))} steps skipped</p>')
        out.append('<ol class="timeline">')
        gen = None
        for s in reh.get("steps") or []:
            if s.get("action") == "kexec" and s.get("status") != "skipped" \
                    and s.get("generation") != gen:
                out.append(f'<li class="kexec">\u21d2 generation {esc(s.get("generation"))} '
                           f'({esc(s.get("profile"))})</li>')
            gen = s.get("generation", gen)
            st = str(s.get("status") or "passed")
            st_cls = st if st in ("passed", "failed", "error", "skipped") else "error"
            label = {"passed": "PASS", "failed": "FAIL", "error": "FAIL",
                     "skipped": "SKIP"}.get(st_cls)
            out.append(f'<li class="step {st_cls}" id="step-{esc(s.get("index"))}">')
            res = ""
            if s.get("result") == "refused":
                e = str(s.get("errno") or "?")
                res = f' <span class="b b-ref">refused {esc(e if e.startswith("-") else "-" + e)}' \
                      "</span>"
            elif s.get("result") == "panic":
                res = ' <span class="b b-panic">kernel panic</span>'
            out.append(f'<div><span class="st st-{st_cls}">{label}</span> '
                       f'<b>{esc(s.get("index"))}. {esc(s.get("title"))}</b>{res} '
                       f'<span class="m">generation {esc(s.get("generation"))} \u00b7 '
                       f'{esc(s.get("profile"))} \u00b7 line {esc(s.get("line"))}</span></div>')
            if s.get("note"):
                out.append(f'<div class="m">{esc(s["note"])}</div>')
            if s.get("message") and s.get("result") in ("refused", "panic", "skipped"):
                out.append(f'<div class="{"panic" if s.get("result") == "panic" else "m"}">'
                           f'{esc(s["message"])}</div>')
            if s.get("error"):
                out.append(f'<div class="panic">{esc(s["error"])}</div>')
            exps = s.get("expectations") or []
            if exps:
                out.append('<ul class="exp">')
                for x in exps:
                    ok = bool(x.get("ok"))
                    msg = "" if ok else f' \u2014 {esc(x.get("message") or "")}'
                    mark = "\u2713" if ok else "\u2717"
                    out.append(f'<li class="{"ok" if ok else "no"}"><span class="mk">'
                               f'{mark}</span> <code>'
                               f'{esc(x.get("expected"))}</code>{msg}</li>')
                out.append("</ul>")
            lines = s.get("messages") or []
            if lines:
                opn = " open" if st_cls in ("failed", "error") or len(lines) <= 4 else ""
                out.append(f'<details class="log"{opn}><summary>kernel log ({len(lines)} '
                           f'line{"s" if len(lines) != 1 else ""})</summary><pre>'
                           + "\n".join(esc(ln) for ln in lines) + "</pre></details>")
            out.append("</li>")
        out.append("</ol></section>")
        return "".join(out)

    def verify_section(self) -> str:
        """``verify --json``: the prediction held against the real host."""
        out = []
        for v in self.doc.get("verify") or []:
            ok = bool(v.get("passed"))
            actual = v.get("actual")
            actual = ", ".join(str(a) for a in actual) if isinstance(actual, list) else actual
            out.append('<section class="verify"><h2>Verify: predicted against the real '
                       'host</h2>')
            out.append(f'<p><span class="st st-{"passed" if ok else "failed"}">'
                       f'{"passed" if ok else "FAILED"}</span> predicted '
                       f'<code>{esc(v.get("predicted"))}</code> (generation '
                       f'{esc(v.get("generation"))}, {esc(v.get("profile"))}), actual '
                       f'<code>{esc(actual)}</code>: {len(v.get("divergences") or [])} '
                       f'divergences, {len(v.get("unmodelled") or [])} unmodelled, '
                       f'{len(v.get("not_compared") or [])} not compared</p>')
            for key, title in (("divergences", "Divergences"),
                               ("unmodelled", "Not modelled by pcilu (not divergences)"),
                               ("not_compared", "Not compared")):
                rows = v.get(key) or []
                if not rows:
                    continue
                out.append(f'<details{" open" if key == "divergences" else ""}><summary>'
                           f'{esc(title)} ({len(rows)})</summary><table class="vt"><tr>'
                           '<th>device</th><th>field</th><th>predicted</th><th>actual</th>'
                           '<th>why</th></tr>')
                for r in rows:
                    out.append(f'<tr class="{esc(key)}"><td><code>{esc(r.get("device") or "")}'
                               f'</code></td><td>{esc(r.get("field") or "")}</td><td><code>'
                               f'{esc(_show(r.get("predicted")))}</code></td><td><code>'
                               f'{esc(_show(r.get("actual")))}</code></td><td>'
                               f'{esc(r.get("reason") or r.get("message") or "")}</td></tr>')
                out.append("</table></details>")
            log = v.get("log") if isinstance(v.get("log"), dict) else {}
            if log:
                if log.get("compared"):
                    out.append(f'<p>kernel log: {esc(log.get("matched"))} of '
                               f'{esc(log.get("predicted"))} predicted lines found, '
                               f'{len(log.get("missing") or [])} missing, '
                               f'{len(log.get("unexpected") or [])} unexpected</p>')
                else:
                    out.append(f'<p class="m">kernel log not compared: '
                               f'{esc(log.get("reason") or "")}</p>')
            out.append("</section>")
        return "".join(out)

    def logs_section(self) -> str:
        if not self.gens:
            return ""
        out = ['<section id="logs"><h2>Kernel log per generation</h2>']
        for g in self.gens:
            e = g.enum
            lines = e.get("messages") or []
            out.append(f'<details{" open" if e.get("panic") else ""}><summary>generation '
                       f'{esc(e.get("generation", "?"))} ({esc(e.get("profile", ""))}) \u2014 '
                       f'{len(lines)} lines</summary>')
            if e.get("panic"):
                out.append(f'<p class="panic">Kernel panic - not syncing: {esc(e["panic"])}</p>')
            out.append("<pre>" + "\n".join(esc(ln) for ln in lines) + "</pre></details>")
        out.append("</section>")
        return "".join(out)

    def render(self) -> str:
        from pcilu_cli import __version__
        doc = self.doc
        title = str(doc.get("title") or "pcilu report")
        reh = doc.get("rehearsal") or {}
        head = [f"<h1>{esc(title)}</h1>"]
        if reh.get("description"):
            head.append(f'<p class="desc">{esc(reh["description"])}</p>')
        srcs = doc.get("sources") or []
        if srcs:
            head.append('<p class="src">from ' + ", ".join(f"<code>{esc(s)}</code>"
                                                          for s in srcs) + "</p>")
        panics = [g for g in self.gens if g.enum.get("panic")]
        for g in panics:
            head.append(f'<p class="panic">generation {esc(g.enum.get("generation"))}: Kernel '
                        f'panic - not syncing: {esc(g.enum["panic"])}</p>')
        parts = ['<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
                 '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
                 'style-src \'unsafe-inline\'; img-src data:">',
                 '<meta name="viewport" content="width=device-width, initial-scale=1">',
                 f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
                 "<header>", *head, self.strip_svg(), self.summary(), self.legend(),
                 "</header>", self.fabric_section() if self.gens else "",
                 self.verify_section(), self.steps_section(), self.logs_section(),
                 f"<footer>pcilu {esc(__version__)} \u2014 drawn from the documents of "
                 "<code>fabric show --json</code>, <code>enumerate --json</code>"
                 f"{', <code>rehearse --json</code>' if reh else ''}"
                 f"{', <code>verify --json</code>' if doc.get('verify') else ''}; self-contained, no "
                 "scripts, nothing fetched.</footer></body></html>\n"]
        return "\n".join(p for p in parts if p)


def _bus_range(f: dict) -> str:
    """``[ss-uu]`` of a bridge's ``bus`` facts (``fabric show --json``), else ``""``."""
    bus = f.get("bus")
    if not isinstance(bus, dict):
        return ""
    try:
        return f"[{int(bus.get('secondary')):02x}-{int(bus.get('subordinate')):02x}]"
    except (TypeError, ValueError):
        return ""


def _show(v) -> str:
    """A predicted/actual value of a verify row: JSON-ish, ``-`` for none."""
    if v is None:
        return "-"
    if isinstance(v, (list, dict)):
        import json
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_html(doc: dict) -> str:
    return _Page(doc).render()
