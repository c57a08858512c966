# SPDX-License-Identifier: GPL-2.0-only
"""Selector options shared by every command that takes a BDF list (preserve, unpreserve,
finish, plan) and ``--kernel IMAGE`` wherever ``--profile`` is taken.

The matching itself is in pcilu_cli/fabric/selectors.py; this module adds the click options
and what each command does with a selection (unpreserve keeps the devices that have a
preserved file, finish the ones with an incoming file). click is imported by the decorators
only: the commands' actions (cli/kernel_actions.py) use the rest without it."""
from __future__ import annotations

from pcilu_cli.errors import BadInput, UsageError


def selector_options(fn):
    """-s SLOT, -d ID, --class, --below, --driver, --all (lspci's spelling)."""
    import click
    opts = [
        click.option("-s", "--slot", "sel_slots", multiple=True, metavar="SLOT",
                     help="lspci's slot filter: [[[[DOMAIN]:]BUS]:][DEV][.[FUNC]]."),
        click.option("-d", "sel_ids", multiple=True, metavar="[VENDOR]:[DEVICE][:CLASS]",
                     help="lspci's ID filter, e.g. -d 8086:0b25 or -d ::0108."),
        click.option("--class", "sel_classes", multiple=True, metavar="CLASS",
                     help='Class as lspci shows it: 0200, 02, or "Ethernet controller".'),
        click.option("--below", "sel_below", multiple=True, metavar="BDF",
                     help="Every function in the subtree below this bridge."),
        click.option("--driver", "sel_drivers", multiple=True, metavar="NAME",
                     help="Bound driver recorded in a capture, e.g. vfio-pci."),
        click.option("--all", "sel_all", is_flag=True,
                     help="Every function (bridges come along on their own)."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def selection_of(kw: dict):
    """Pop the selector options out of a command's keyword arguments."""
    from pcilu_cli.fabric.selectors import Selection
    return Selection(slots=kw.pop("sel_slots", ()), ids=kw.pop("sel_ids", ()),
                     classes=kw.pop("sel_classes", ()), below=kw.pop("sel_below", ()),
                     drivers=kw.pop("sel_drivers", ()), all=kw.pop("sel_all", False))


def resolve(m, bdfs, sel, purpose: str) -> list[str]:
    """Explicit BDFs first, then what the selectors pick, once each. ``purpose``:
    "preserve"/"plan" (functions this kernel enumerated), "unpreserve" (those with a
    preserved file), "finish" (those with an incoming file)."""
    from pcilu_cli.abi.bdf import device_key, format_bdf, parse_bdf
    from pcilu_cli.fabric.selectors import select
    if not bdfs and sel.empty:
        raise UsageError("give BDFs or a selector (-s, -d, --class, --below, --driver, --all)")
    out = list(bdfs)
    if not sel.empty:
        picked = select(m.fabric, sel)
        k = m.kernel
        keep = []
        for b in picked:
            d, bus, devfn = parse_bdf(b)
            key = device_key(d, bus, devfn)
            if purpose == "unpreserve":
                ok = k is not None and k.luo.find_outgoing_file(key)[1] is not None
            elif purpose == "finish":
                ok = k is not None and k.luo.find_incoming_file(key)[1] is not None
            elif purpose == "preserve":
                ok = k is not None and key in k.devices
            else:
                ok = True
            if ok:
                keep.append(format_bdf(d, bus, devfn))
        if not keep and purpose != "plan":
            raise BadInput(f"the selectors matched no device to {purpose} "
                           f"({len(picked)} functions matched before that)", field="selector")
        seen = set()
        for b in out:
            try:
                seen.add(format_bdf(*parse_bdf(b)))
            except ValueError:
                pass
        out += [b for b in keep if b not in seen]
    return out


def kernel_option(fn):
    import click
    return click.option("--kernel", "kernel_image", metavar="IMAGE", default=None,
                        help="Pick the profile from a kernel build (vmlinux, bzImage, "
                        ".config, .deb, directory): see `pcilu kernel`.")(fn)


def profile_from(profile, kernel_image, *, notice=None):
    """--profile and --kernel are alternatives; --kernel IMAGE resolves to its profile."""
    if kernel_image is None:
        return profile
    if profile is not None:
        raise UsageError("use --profile or --kernel, not both")
    from pcilu_cli.abi.kernel_image import profile_for
    name, doc = profile_for(kernel_image)
    if notice is not None:
        notice(f"{kernel_image}: Linux {doc['release'] or '?'} speaks the {name} ABI")
    return name
