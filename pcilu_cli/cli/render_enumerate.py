# SPDX-License-Identifier: GPL-2.0-only
"""The human view of ``pcilu enumerate``: one aligned line per device, then the kernel log.

:func:`report_rows` picks and formats the rows (on a fabric of more than
:data:`SMALL_FABRIC` functions only those Live Update touched, unless ``--all``);
:func:`render_report` prints them under a heading, plain (grep-able, never wrapped) off a
terminal and with colour on one. The data is the ``enumerate --json`` document
(``Machine.report()``).
"""
from __future__ import annotations

import click

SHORT_KIND = {"root_port": "RP", "switch_upstream": "USP", "switch_downstream": "DSP",
              "endpoint": "EP", "host_bridge": "host", "legacy_endpoint": "legacy EP",
              "rciep": "RCiEP", "rcec": "RCEC", "pcie_pci_bridge": "PCIe-PCI",
              "pci_pcie_bridge": "PCI-PCIe"}


COLUMNS = ("BDF", "kind", "in", "out", "BME", "bus", "ACSCtl", "ARIFwd", "enum")
SMALL_FABRIC = 64        # up to this many functions, every one is listed by default


def report_rows(devs, show_all=False):
    """The rows people see: on a big fabric only the functions Live Update touched (preserved,
    on a preserved path, incoming now or before, or skipped), unless --all."""
    small = len(devs) <= SMALL_FABRIC
    for d in devs:
        if not (show_all or small or d["incoming"] or d["outgoing"] or d["was_incoming"]
                or not d["enumerated"]):
            continue
        inc = "yes" if d["incoming"] else ("was" if d["was_incoming"] else "")
        out = str(d["outgoing_refcount"]) if d["outgoing"] else ""
        bus = "" if d["secondary"] is None else f"{d['secondary']:02x}-{d['subordinate']:02x}"
        acs = "" if d["acs_ctrl"] is None else f"{d['acs_ctrl']:#06x}" + \
            ("*" if d["acs_inherited"] else "")
        ari = "" if d["ari_forwarding"] is None else ("+" if d["ari_forwarding"] else "-") + \
            ("*" if d["ari_inherited"] else "")
        yield (d["bdf"] or f"({d.get('uid')})", SHORT_KIND.get(d["kind"], d["kind"]), inc, out,
               "+" if d["bus_master"] else "-", bus, acs, ari,
               "yes" if d["enumerated"] else "skipped")


def render_report(rep: dict, name: str, *, show_all=False):
    """Plain aligned columns, one device per line, never wrapped (grep-able in CI logs) and
    linear in the number of rows: a rich Table measures every cell and took ~40 s for the
    65,536 rows of ``--all`` on a full domain."""
    import sys
    from pcilu_cli.cli.context import console
    con = console()
    colour = con.is_terminal and not con.no_color
    devs = rep["devices"]
    rows = list(report_rows(devs, show_all))
    head = f"{name}: generation {rep['generation']} ({rep['profile']})"
    kho = rep.get("kho") or {}
    if kho.get("status"):
        head += f", hand-over: {kho['status']}"
    out = [click.style(head, bold=True) if colour else head]
    if rep.get("panic"):
        line = f"Kernel panic - not syncing: {rep['panic']}"
        out.append(click.style(line, fg="red", bold=True) if colour else line)
    if rows:
        # (this module's `enumerate` is the command, not the builtin)
        widths = [max(len(COLUMNS[i]), *(len(r[i]) for r in rows)) for i in range(len(COLUMNS))]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        out.append(fmt.format(*COLUMNS).rstrip())
        out.append("  ".join("-" * w for w in widths))
        for r in rows:
            line = fmt.format(*r).rstrip()
            if colour and r[-1] == "skipped":
                line = line[:-len("skipped")] + click.style("skipped", fg="red")
            out.append(line)
    hidden = len(devs) - len(rows)
    if hidden:
        out.append(f"{hidden} other functions not shown (neither preserved nor incoming; "
                   "--all lists them)" if rows else
                   f"no function is preserved, incoming or skipped; {hidden} functions not "
                   "shown (--all lists them)")
    if rows:
        out.append("in: incoming now (yes) or before finish (was); out: outgoing refcount;")
        out.append("*: inherited from the previous kernel; bus: secondary-subordinate")
    for f in rep.get("findings") or ():
        # what the real kernel gets wrong here (e.g. the v6 double free of a failed retrieve)
        line = f"finding: {f}"
        out.append(click.style(line, fg="yellow", bold=True) if colour else line)
    if rep["messages"]:
        out.append("kernel log:")
        out.extend(f"  {ln}" for ln in rep["messages"])
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
