# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu inspect``'s views for people of images: a KHO root FDT / LUO FDT, an ELF memory
dump, a pcilu state file, a plain device tree.

The walk itself is :func:`pcilu_cli.memory.handover.read_handover` (every link validated); this
module only renders the chain for people (a rich tree); scripts get the same document as JSON
from ``inspect --json``.
"""
from __future__ import annotations

import click

# ---- people --------------------------------------------------------------------------------

def _hx(v) -> str:
    return "none" if not v else f"{v:#x}"


def handover_tree(doc: dict, label: str):
    from rich.markup import escape
    from rich.tree import Tree
    compat = ", ".join(doc.get("kho_compatible", []))
    root = Tree(f"[bold]{escape(label)}[/bold]: KHO root FDT @ {_hx(doc['root_pa'])} "
                f"({escape(compat)}, generation {doc['kho_generation']})")
    root.add(f"preserved-memory-map @ {_hx(doc['preserved_memory_map'])}: "
             f"{len(doc['preserved'])} preserved blocks, {doc['tracker_pages']} tracker pages")
    km = doc.get("kexec_metadata")
    if km:
        root.add(f"kexec-metadata: version {km['version']}, previous release "
                 f"{escape(repr(km['previous_release']))}, kexec count {km['kexec_count']}")
    luo = doc.get("luo")
    if luo:
        lt = root.add(f"LUO ({luo['compatible']}), liveupdate number {luo['liveupdate_num']}")
        st = lt.add(f"sessions: {len(luo['sessions'])}")
        for s in luo["sessions"]:
            sn = st.add(f"{escape(repr(s['name']))}: {len(s['files'])} "
                        f"file{'s' if len(s['files']) != 1 else ''}")
            for f in s["files"]:
                sn.add(f"{escape(f['compatible'])}  token {f['token']:#x}  data {_hx(f['data'])}")
        ft = lt.add(f"FLB page @ {_hx(luo.get('flbs_pa'))}: {len(luo['flbs'])} "
                    f"FLB{'s' if len(luo['flbs']) != 1 else ''}")
        pcis = {p["compatible"]: p for p in doc.get("pci", [])}
        for rec in luo["flbs"]:
            fn = ft.add(f"{escape(repr(rec['name']))}: data @ {_hx(rec['data'])}, "
                        f"count {rec['count']} file{'s' if rec['count'] != 1 else ''}")
            p = pcis.get(rec["name"])
            if p is not None:
                pci_subtree(fn, p)
            else:
                fn.add("[dim](not a PCI FLB this pcilu knows)[/dim]")
    return root


def pci_subtree(parent, p: dict):
    facts = [f"nr_devices {p['nr_devices']}"]
    if "max_nr_devices" in p:
        facts.insert(0, f"max_nr_devices {p['max_nr_devices']}")
    if "version" in p:
        facts.insert(0, f"version {p['version']}")
    pt = parent.add(f"struct pci_ser ({p['profile']}, {p['layout']} layout): " + ", ".join(facts))
    for d in p["devices"]:
        pt.add(f"[{d['slot']}] {d['bdf']}  refcount {d['refcount']}")
    if "free_slots" in p and p["free_slots"]:
        pt.add(f"[dim]{p['free_slots']} free slots[/dim]")


def render(doc: dict, name: str) -> None:
    from rich.markup import escape
    from pcilu_cli.cli.context import console
    con = console()
    kind = doc["kind"]
    if kind == "handover":
        con.print(handover_tree(doc, name))
    elif kind == "state":
        render_state(con, doc, name)
    elif kind == "kho_root_fdt":
        con.print(f"[bold]{escape(name)}[/bold]: KHO root FDT "
                  f"({escape(', '.join(doc['kho_compatible']))})")
        if doc.get("posting"):
            con.print(f"  [yellow]{escape(doc['posting'])}[/yellow]")
        con.print(f"  preserved-memory-map = {_hx(doc['preserved_memory_map'])}")
        # one plain line per subtree, not one rich print each (a crafted 2 MiB root FDT has
        # ~55k of them: seconds instead of minutes)
        from pcilu_cli.memory.fdt import shown
        lines = []
        for s in doc["subtrees"]:
            size = "" if s["blob_size"] is None else f", blob-size {s['blob_size']}"
            lines.append(f"  {shown(s['name'])}: preserved-data {_hx(s['preserved_data'])}{size}")
        if lines:
            con.file.flush()
            click.echo("\n".join(lines))
        con.print(f"[dim]{doc['note']}[/dim]")
    elif kind == "luo_fdt":
        con.print(f"[bold]{escape(name)}[/bold]: LUO FDT (luo-v1), liveupdate number "
                  f"{doc['liveupdate_num']}, luo-session-header {_hx(doc['session_header_pa'])}, "
                  f"luo-flb-header {_hx(doc['flbs_pa'])}")
    else:       # a plain device tree never gets here: inspect draws it from its tree
        raise ValueError(f"no view for a {kind!r} document")


def render_plain_fdt(tree, name: str) -> None:
    """A device tree that is not one of the hand-over's, in the source syntax ``dtc -O dts``
    prints (values as pcilu decodes them: u64 for 8-byte values), written as plain text line
    by line: a 100k-node tree prints in about a second, where one rich print of it took
    minutes."""
    import click
    from pcilu_cli.memory.fdt import dts_lines
    click.echo(f"{name}: a device tree that is not a KHO/LUO FDT")
    out = []
    for line in dts_lines(tree):
        out.append(line)
        if len(out) >= 4096:
            click.echo("\n".join(out))
            out = []
    if out:
        click.echo("\n".join(out))


def render_state(con, doc: dict, name: str) -> None:
    from rich.markup import escape
    from rich.tree import Tree
    head = (f"[bold]{escape(name)}[/bold]: pcilu state, generation {doc['generation']}, "
            f"profile {doc['profile']}, {doc['phase']}")
    if doc.get("panic"):
        head += f" — [red]panic: {escape(doc['panic'])}[/red]"
    con.print(head)
    fab = doc.get("fabric") or {}
    nfun = fab.get("functions")
    con.print(f"fabric {escape(str(fab.get('name')))}: {nfun} function"
              f"{'' if nfun == 1 else 's'}; "
              f"hand-over received: {escape(str((doc.get('kho_in') or {}).get('status')))}")
    for which, d in (doc.get("pci_ser") or {}).items():
        if d is None:
            continue
        t = Tree(f"{which} struct pci_ser @ {d['pa']:#x}")
        pci_subtree(t, d)
        con.print(t)
    out = doc.get("outgoing")
    if out and out.get("kind") == "handover":
        con.print(handover_tree(out, "outgoing hand-over"))


__all__ = ["render", "render_plain_fdt", "render_state"]
