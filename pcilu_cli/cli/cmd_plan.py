# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu plan SOURCE [SELECTORS]``: which devices could be preserved, why not, and what it
would take (bridges, pci_ser slots, LUO sessions) — nothing is written."""
from __future__ import annotations

import click

from pcilu_cli.cli.context import notice, print_json, set_json_mode, warn
from pcilu_cli.cli.selectors import (kernel_option, profile_from, resolve, selection_of,
                                     selector_options)


def load_source(source, profile=None, cmdline=None):
    """(machine, kind, drivers) for a state file, or a fabric / capture booted fresh."""
    from pcilu_cli.fabric.capture import is_capture
    try:
        with open(source, "rb") as f:
            head = f.read(4)
    except OSError:
        head = b""
    from pcilu_cli.abi.formats import identify
    if identify(head).kind == "elf":
        if profile is not None:
            warn("--profile/--kernel are ignored for a state file (its kernel is running)")
        from pcilu_cli.state import load
        m = load(source)
        return m, "state", (m.fabric.source or {}).get("drivers")
    kind = "capture" if source != "-" and is_capture(source) else "fabric"
    from pcilu_cli.cli.fabric_input import load_fabric
    from pcilu_cli.state import Machine
    fab = load_fabric(source)
    m = Machine.boot(fab, profile=profile, params=cmdline or "")
    return m, kind, (fab.source or {}).get("drivers")


@click.command()
@click.argument("source")
@click.argument("bdfs", metavar="[BDF...]", nargs=-1)
@selector_options
@click.option("--session", default=None, metavar="NAME|auto",
              help='LUO session for the files (default "pcilu"; auto: as many as '
              "LUO_FILE_MAX requires, pcilu-1, pcilu-2, ...).")
@click.option("-p", "--profile", default=None, help="Kernel profile (fabric/capture sources).")
@kernel_option
@click.option("--cmdline", default=None, help="Kernel command line (fabric/capture sources).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def plan(source, bdfs, session, profile, kernel_image, cmdline, as_json, **kw):
    """Plan preserving devices: per device, preservable or not with the errno and the reason
    the kernel would give (VF, ACS quirk on the device or an upstream port, below a CardBus
    bridge or a bridge without a child bus, already preserved, ...), the bridges it pulls in
    with their resulting refcounts, struct pci_ser slots against max_nr_devices, and the LUO
    sessions needed. Nothing is written.

    SOURCE is a state file, a fabric, or a capture (`pcilu capture`); a fabric or capture
    is booted fresh with --profile/--kernel/--cmdline.

    \b
    Examples:
      pcilu plan host.tar.gz --all
      pcilu plan host.tar.gz --driver vfio-pci --json | jq '.devices[] | {bdf, preservable}'
      pcilu plan gen0.elf -d 8086:0b25 --session auto
    """
    set_json_mode(as_json)
    from pcilu_cli.rehearsal.plan import plan as make_plan
    sel = selection_of(kw)
    prof = profile_from(profile, kernel_image, notice=notice)
    m, kind, drivers = load_source(source, prof, cmdline)
    todo = resolve(m, bdfs, sel, "plan")
    doc = make_plan(m, todo, session=session, source=source, source_kind=kind,
                    drivers=drivers)
    if as_json:
        print_json(doc)
        return
    render_plan(doc)


def render_plan(doc: dict) -> None:
    from pcilu_cli.cli.context import plain_table
    lines = [f"{doc['source']}: plan on generation {doc['generation']} ({doc['profile']}), "
             f"{doc['summary']['preservable']} of {doc['summary']['selected']} selected "
             "devices preservable (nothing written)"]
    rows = []
    for d in doc["devices"]:
        path = " -> ".join(f"{p['bdf']}({p['refcount']})" for p in d["path"][1:])
        verdict = "yes" if d["preservable"] else f"no -{d['errno']}"
        rows.append((d["bdf"], d["kind"] or "", d["driver"] or "", verdict,
                     d["session"] or "", d["reason"] if not d["preservable"] else path))
    if rows:
        lines += plain_table(("BDF", "kind", "driver", "preserve", "session",
                              "reason / bridges (refcount)"), rows)
    if doc["bridges"]:
        lines.append("bridges pulled in: " + ", ".join(
            f"{b['bdf']} refcount {b['refcount']}" for b in doc["bridges"]))
    ps = doc["pci_ser"]
    mx = ps["max_nr_devices"]
    lines.append(f"struct pci_ser: {ps['slots_needed']} slots needed"
                 + (f" of max_nr_devices {mx}" if mx is not None else
                    f" ({ps['layout']} layout: kho_block chain, grows as needed)")
                 + ("" if ps["fits"] else "  DOES NOT FIT"))
    lu = doc["luo"]
    cap = f"LUO_FILE_MAX {lu['file_max']} per session" if lu["file_max"] else \
        "no per-session file limit"
    lines.append(f"LUO ({lu['compatible']}, {cap}): {lu['files']} files, "
                 f"{lu['sessions_needed']} session(s) needed"
                 + (": " + ", ".join(f"{s['name']} ({s['files']})" for s in lu["sessions"])
                    if lu["sessions"] else ""))
    click.echo("\n".join(lines))
