# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu profiles``: the kernel profiles pcilu knows, and (``--matrix``) what happens when a
kernel of one profile kexecs into a kernel of another."""
from __future__ import annotations

import click

from pcilu_cli.abi.profiles import DEFAULT_PROFILE, PROFILES
from pcilu_cli.cli.context import print_json, set_json_mode


def profile_json(p) -> dict:
    return {"name": p.name, "aliases": list(p.aliases), "series": p.series,
            "pci_compatible": p.pci_compatible, "pci_layout": p.pci_layout,
            "pci_version": p.pci_version, "refcount": p.refcount,
            "kho_compatible": p.kho_compatible, "luo_compatible": p.luo_compatible,
            "retrieve_failure": p.retrieve_failure, "bus_inherit": p.bus_inherit,
            "panic_on_unfinished": p.panic_on_unfinished, "default": p.name == DEFAULT_PROFILE,
            "v6_patch": p.patch, "adds": p.adds, "note": p.note}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--matrix", is_flag=True,
              help="Kexec a sample fabric from every profile to every profile and tabulate "
                   "the outcome.")
@click.option("--fabric", "fabric_path", default=None,
              help="Fabric for --matrix (default: the shipped QEMU virtio-net fabric).")
@click.option("--kernel", "kernels", multiple=True, metavar="IMAGE",
              help="With --matrix: only the profiles of these kernel builds (repeat: e.g. "
              "the running kernel and the new package).")
def profiles(as_json, matrix, fabric_path, kernels):
    """List kernel profiles (ABI + behaviour of one series revision).

    \b
    Examples:
      pcilu profiles
      pcilu profiles --matrix            # v6 -> v9: what does the new kernel do?
      pcilu profiles --matrix --json | jq '.cells[] | select(.outcome=="panic")'
      pcilu profiles --matrix --kernel /boot --kernel new-kernel.deb
    """
    set_json_mode(as_json)
    if kernels and not matrix:
        raise click.UsageError("--kernel goes with --matrix")
    if matrix:
        from pcilu_cli.cli import cmd_matrix
        profs = None
        if kernels:
            from pcilu_cli.cli.selectors import profile_from
            profs = list(dict.fromkeys(profile_from(None, k) for k in kernels))
        return cmd_matrix.run_matrix(fabric_path, as_json, profiles=profs)
    rows = [profile_json(p) for p in PROFILES.values()]
    if as_json:
        print_json({"kind": "profiles", "default": DEFAULT_PROFILE, "profiles": rows})
        return
    from pcilu_cli.cli.context import plain_table
    table = []
    for r in rows:
        compat = r["pci_compatible"] + (f" v{r['pci_version']}" if r["pci_version"] else "")
        name = r["name"] + ("*" if r["default"] else "")
        table.append((name, ",".join(r["aliases"]), compat, r["pci_layout"],
                      f"{r['kho_compatible']} / {r['luo_compatible']}", r["series"]))
    lines = plain_table(("profile", "alias", "FLB name", "pci_ser", "KHO / LUO", "series"), table)
    lines.append("* default profile")
    # one profile per patch of v6: what each patch switches on (bisect a rehearsal with them)
    import textwrap
    lines += ["", "What each v6 patch adds (profile v6-pNN = patches 01..NN):"]
    for r in rows:
        if not r["adds"]:
            continue
        first = f"  {r['name']:<7} {r['note']}"
        lines += textwrap.wrap(first, 79, subsequent_indent=" " * 10)
        lines += textwrap.wrap(r["adds"], 79, initial_indent=" " * 10,
                               subsequent_indent=" " * 10)
    click.echo("\n".join(lines))
