# SPDX-License-Identifier: GPL-2.0-only
"""The generation commands: ``init``, ``preserve``, ``unpreserve``, ``finish``, ``kexec``,
``enumerate``, ``hot-remove``, ``hot-add`` and ``export`` over a state file — their click
declarations; what the most used of them do is in cli/kernel_actions.py (click-free, shared
with cli/fastpath.py).

Each command is one userspace action on one booted kernel: load the state (under its lock for
the commands that change it), act, save atomically. A refusal (exit 4) or bad input (exit 3)
changes nothing; a panic (exit 5) is recorded in the state that is written.
"""
from __future__ import annotations

import click

from pcilu_cli.cli import kernel_actions as act
from pcilu_cli.cli.profile_param import PROFILE as PROFILE_CHOICE
from pcilu_cli.cli.context import notice, plural, print_json, set_json_mode, warn
from pcilu_cli.cli.kernel_actions import (echo_messages, echo_paths, mutate,
                                          say_written_panicked, warn_kernel_lines)
from pcilu_cli.cli.selectors import kernel_option, profile_from, selection_of, selector_options
from pcilu_cli.errors import BadInput, KernelPanic


json_option = click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
wait_option = click.option("--wait", type=click.FloatRange(0), default=30.0, show_default=True,
                           help="Seconds to wait for another pcilu holding the state's lock.")


def _complete_bdf(ctx, param, incomplete):
    """Shell completion: BDFs of the state file named on the command line."""
    try:
        from pcilu_cli.state import load
        m = load(ctx.params["state"])
        return [d["bdf"] for d in m.report()["devices"]
                if d.get("bdf") and d["bdf"].startswith(incomplete)]
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return []


bdfs_argument = click.argument("bdfs", metavar="[BDF...]", nargs=-1,
                               shell_complete=_complete_bdf)


# ---- init -----------------------------------------------------------------------------------

@click.command()
@click.argument("fabric")
@click.option("-o", "--output", metavar="STATE", required=True,
              help="State file to write (generation 0).")
@click.option("-p", "--profile", type=PROFILE_CHOICE, default=None,
              help="Kernel profile (default v6 = pci-v3).")
@kernel_option
@click.option("--cmdline", default="", help='Kernel command line, e.g. "pci=assign-busses '
              'pci=noari pci=config_acs=... liveupdate=off".')
@json_option
def init(fabric, output, profile, kernel_image, cmdline, as_json):
    """Boot generation 0 on FABRIC and write its state file.

    FABRIC is a YAML fabric, an `lspci -xxxx` dump, a sysfs snapshot (directory or tar
    archive), a serialized fabric from `pcilu generate`, a state file, or `-` (stdin).

    \b
    Examples:
      pcilu init fixtures/fabrics/qemu-virtio-net.yaml -o gen0.elf
      pcilu init dump.txt -o gen0.elf --cmdline "pci=assign-busses"
    """
    act.init(fabric, output, profile, kernel_image, cmdline, as_json)


# ---- preserve / unpreserve / finish -----------------------------------------------------------

@click.command()
@click.argument("state")
@bdfs_argument
@selector_options
@click.option("--session", default=None, metavar="NAME|auto",
              help='LUO session that holds the device files (default "pcilu"; auto: '
              "pcilu-1, pcilu-2, ... as LUO_FILE_MAX requires).")
@click.option("--token", type=click.IntRange(0, 2**64 - 1), default=None,
              help="LUO file token (default: (domain << 16) | bdf).")
@click.option("--dry-run", is_flag=True, help="Do it on a copy and report; write nothing.")
@wait_option
@json_option
def preserve(state, bdfs, session, token, dry_run, wait, as_json, **kw):
    """Preserve devices for the next kernel (their upstream bridges come along).

    Models userspace preserving each device's vfio-pci cdev in a LUO session: the first file
    sizes `struct pci_ser`, then pci_liveupdate_preserve() runs the PCI core's checks. All
    BDFs or none: a refusal (exit 4, with the errno and the kernel's message) leaves the state
    as it was.

    \b
    Examples:
      pcilu preserve gen0.elf 0000:01:00.0
      pcilu preserve gen0.elf 6a:01.0 6f:01.0 --session vm42
      pcilu preserve gen0.elf --driver vfio-pci --session auto --dry-run
    """
    act.preserve(state, bdfs, session, token, dry_run, wait, as_json, selection_of(kw))


@click.command()
@click.argument("state")
@bdfs_argument
@selector_options
@click.option("--session", default=None, help="Session of the device file (default: any).")
@wait_option
@json_option
def unpreserve(state, bdfs, session, wait, as_json, **kw):
    """Stop preserving devices (their bridges' refcounts drop).

    A BDF with no preserved file (e.g. a bridge that is only preserved for its children) is
    passed straight to pci_liveupdate_unpreserve(), as a buggy driver could: the kernel allows
    it and the counts of the path are corrupted; pcilu does the same and warns.
    A device that is not preserved only gets the kernel's log line, reported as a
    warning (exit 3 under --strict).

    \b
    Examples:
      pcilu unpreserve gen0.elf 0000:01:00.0
      pcilu unpreserve gen0.elf 6a:01.0 --session vm42 --json
    """
    set_json_mode(as_json)
    def check(r):
        warn_kernel_lines(r, "unpreserve")
        if r.get("corrupts_counts"):
            warn(f"{r['bdf']}: unpreserved directly without a preserved file: the kernel "
                 "allows this, and the refcounts of this path no longer match the devices "
                 "below it")
        elif r.get("direct"):
            notice(f"{r['bdf']}: no preserved file; called pci_liveupdate_unpreserve() directly")
    res = mutate(state, bdfs, wait, lambda m, b, c: m.unpreserve(*b, session=session, check=c),
                 as_json, "unpreserve", check=check, sel=selection_of(kw))
    if not as_json:
        echo_paths("unpreserved", res)


@click.command()
@click.argument("state")
@bdfs_argument
@selector_options
@wait_option
@json_option
def finish(state, bdfs, wait, as_json, **kw):
    """Finish incoming devices (the driver is done with them): refcounts drop up the path,
    and the incoming FLB is freed once every preserved device has finished.

    A device that is not incoming only gets the kernel's "Cannot finish ..." log line,
    reported as a warning (exit 3 under --strict).

    \b
    Examples:
      pcilu finish gen1.elf 0000:01:00.0
      pcilu finish gen1.elf 6a:01.0 6f:01.0 --json | jq '.results[].flb_finished'
    """
    act.finish(state, bdfs, wait, as_json, selection_of(kw))


@click.command(name="hot-remove")
@click.argument("state")
@click.argument("bdfs", metavar="BDF...", nargs=-1, required=True,
                shell_complete=_complete_bdf)
@wait_option
@json_option
def hot_remove(state, bdfs, wait, as_json):
    """Hot-remove devices (and everything below them) from this kernel: each release runs
    pci_liveupdate_cleanup_device(). The hardware stays; `hot-add` finds it again.

    \b
    Example:
      pcilu hot-remove gen1.elf 0000:01:00.0 && pcilu hot-add gen1.elf
    """
    set_json_mode(as_json)
    res = mutate(state, bdfs, wait, lambda m, b, c: m.hot_remove(*b, check=c), as_json,
                 "hot-remove")
    if not as_json:
        for r in res:
            click.echo(f"removed {', '.join(r['removed'])}")
            echo_messages(r["messages"])


@click.command(name="hot-add")
@click.argument("state")
@wait_option
@json_option
def hot_add(state, wait, as_json):
    """Rescan every bus (echo 1 > /sys/bus/pci/rescan): removed or new hardware is enumerated,
    with Live Update's bus-number rules still in force while devices are unfinished.

    \b
    Example:
      pcilu hot-add gen1.elf --json | jq .added
    """
    set_json_mode(as_json)
    from pcilu_cli.api.machine import Machine
    from pcilu_cli.state import transaction
    with transaction(state, wait=wait) as sim:
        r = Machine(sim, disposable=True).hot_add()
    if as_json:
        print_json({**r, "state": state})
    else:
        click.echo(f"added {', '.join(r['added']) or 'nothing'}")
        echo_messages(r["messages"])


# ---- kexec ------------------------------------------------------------------------------------

@click.command()
@click.argument("state", required=False)
@click.option("-o", "--output", metavar="NEXT", required=True,
              help="State file of the next generation.")
@click.option("-p", "--profile", type=PROFILE_CHOICE, default=None,
              help="Profile of the NEXT kernel (default: the same as the running one).")
@kernel_option
@click.option("--cmdline", default=None,
              help="Command line of the next kernel (default: the running kernel's).")
@click.option("--fabric", "fabric_path", default=None,
              help="With --flb: the fabric to boot on (instead of a STATE).")
@click.option("--flb", "flb_path", default=None,
              help="Boot from a raw struct pci_ser blob (e.g. taken from a real machine).")
@click.option("--flb-name", default=None, metavar="NAME",
              help="With --flb: the luo_flb_ser name (default: the profile's compatible).")
@click.option("--flb-count", default=None, type=click.IntRange(0, 2**63 - 1),
              metavar="N", help="With --flb: the record's file count (default: one per "
              "preserved endpoint).")
@json_option
def kexec(state, output, profile, kernel_image, cmdline, fabric_path, flb_path, flb_name,
          flb_count, as_json):
    """Kexec into the next kernel: freeze, shut down (Bus Master stays on outgoing devices),
    hand over KHO/LUO/PCI FLB, boot generation N+1 and enumerate it.

    STATE itself is not changed (it stays the pre-kexec record, so one generation can be
    kexec'd several ways). If the new kernel panics, the panicked generation is still written
    to OUTPUT and pcilu exits 5.

    \b
    Examples:
      pcilu kexec gen0.elf -o gen1.elf
      pcilu kexec gen0.elf -o gen1.elf --profile v9        # cross-profile upgrade
      pcilu kexec --fabric host.yaml --flb pci-v3.bin -o gen1.elf
      pcilu kexec --fabric host.yaml --flb b.bin --flb-count 0 -o g1.elf
      pcilu kexec gen0.elf -o gen1.elf --kernel /boot/vmlinuz-new
    """
    set_json_mode(as_json)
    profile = profile_from(profile, kernel_image, notice=notice)
    from pcilu_cli import api
    if flb_path is not None or fabric_path is not None:
        if state is not None or flb_path is None or fabric_path is None:
            raise click.UsageError("use either STATE, or --fabric F --flb BLOB")
        if flb_name is not None and not 0 < len(flb_name.encode()) < 48:
            raise click.BadParameter("must be 1..47 bytes (luo_flb_ser.name is char[48])",
                                     param_hint="--flb-name")
        from pcilu_cli.cli.fabric_input import load_fabric
        fab = load_fabric(fabric_path)
        blob = _read_flb_blob(flb_path)
        _check_flb_blob(blob, profile, flb_path)
        try:
            nxt = api.boot_from_blob(fab, blob, profile=profile, cmdline=cmdline or "",
                                     name=flb_path, flb_name=flb_name, flb_count=flb_count)
        except KernelPanic as exc:
            exc.machine.save(output)
            say_written_panicked(exc, output)
            raise
    else:
        if state is None:
            raise click.UsageError("missing STATE (or --fabric F --flb BLOB)")
        if flb_name is not None or flb_count is not None:
            raise click.UsageError("--flb-name/--flb-count go with --fabric F --flb BLOB")
        act.kexec(state, output, profile, cmdline, as_json)
        return
    act.write_next(nxt, output, as_json)


def _read_flb_blob(path: str) -> bytes:
    """``kexec --flb``: the blob the previous kernel left. The kernel boots whatever bytes it
    is given (bytes of no known format only warn, see :func:`_check_flb_blob`), but a file
    the format table recognises as something else (a state file, a fabric, a FLB page, a
    text file, ...) is no blob: it is refused before anything boots, naming what it is."""
    from pcilu_cli.abi.formats import UNKNOWN
    from pcilu_cli.state.files import open_input, refuse
    inp = open_input(path)
    if inp.kind not in (UNKNOWN, "pci_ser", "pci_ser_u64"):
        hint = "a pcilu state file kexecs with `pcilu kexec STATE -o NEXT`" \
            if inp.kind == "elf" else ""
        raise refuse(inp, "a raw struct pci_ser blob", hint=hint)
    return inp.data


def _check_flb_blob(blob: bytes, profile, file: str) -> None:
    """``kexec --flb``: the next kernel boots whatever the blob holds (v6: a retrieve failure
    only WARNs and nothing is incoming), so a wrong file would "succeed" silently. Decode it
    first, as inspect does, and report what the kernel will stumble on as a warning (exit 3
    under --strict, before anything is written)."""
    from pcilu_cli.abi import pci
    from pcilu_cli.abi.profiles import FLEX, get_profile
    from pcilu_cli.errors import Diagnostic
    prof = get_profile(profile or "v6")
    if prof.pci_layout != FLEX:
        return                     # refused by Machine.boot_from_blob with its own message
    name = "<stdin>" if file == "-" else file
    try:
        ser = pci.decode_pci_ser(blob, prof, file=name)
    except BadInput as e:
        warn(Diagnostic(f"not a struct pci_ser the {prof.name} kernel can retrieve "
                        f"({e.one_line()}): it boots with nothing incoming"))
        return
    for d in ser.diagnostics:
        warn(d)


# ---- enumerate --------------------------------------------------------------------------------

@click.command()
@click.argument("state")
@json_option
@click.option("--all", "show_all", is_flag=True, help="Also list functions that are neither "
              "preserved nor on a preserved path (default for small fabrics).")
@click.option("--debug", is_flag=True, help="Include pr_debug/pci_dbg lines in the log (the "
              "kernel records them only with dyndbg on its command line, e.g. "
              "--cmdline 'dyndbg=+p').")
@click.option("--tree", is_flag=True, help="Draw the fabric as a tree with the Live Update "
              "path marked ([out=N] [in] [finished] [BM-lost] [SKIPPED] ...).")
def enumerate(state, as_json, show_all, debug, tree):  # noqa: A001 - the kernel's word
    """What this generation's enumeration did, per device: incoming / outgoing, Bus Master,
    bus numbers, ACS control and ARI Forwarding (and whether inherited), enumerated or
    skipped — and the kernel log lines. Exits 5 if the generation panicked.

    On fabrics of more than 64 functions only the functions Live Update touched
    (preserved, on a preserved path, incoming, skipped) are listed; --all lists every one.
    --json always carries every function.

    --tree draws the fabric as a tree instead, each function followed by its marks
    (outgoing refcount, incoming, finished, lost Bus Master, skipped bridge, not enumerated);
    the same rule picks what is drawn (touched functions and the path above them).

    \b
    Examples:
      pcilu enumerate gen1.elf
      pcilu enumerate gen1.elf --tree
      pcilu enumerate gen1.elf --json | jq '.devices[] | select(.incoming) | .bdf'
    """
    act.enumerate(state, as_json, show_all, debug, tree)


# ---- export -----------------------------------------------------------------------------------

@click.command()
@click.argument("state")
@click.option("-o", "--output", "outdir", metavar="DIR", required=True,
              help="Directory to write into: new, empty, or an earlier export's (whose files "
              "are replaced; anything else there is left alone).")
@json_option
def export(state, outdir, as_json):
    """Write the standard views of a generation (lspci dump, KHO FDTs, FLB blobs) into DIR.

    \b
      lspci.txt          config space: `lspci -F lspci.txt -vvv`
      kho/fdt, kho/sub_fdts/*
                         the outgoing KHO tree as debugfs shows it (kho/out/)
      kho/in/fdt, kho/in/sub_fdts/*
                         the incoming one (kho/in/), when there was one
      flb/<compatible>.bin
                         the outgoing struct pci_ser as the kernel holds it
      flb/incoming/<compatible>.bin
                         the incoming one
      state.json         metadata and the enumerate report

      .pcilu-export      the list of files this export wrote

    DIR must be new, empty, or an earlier export: then the files that export wrote are
    replaced (those this generation does not have are removed), so DIR never mixes two
    generations; a non-empty DIR that is not an export is refused (exit 3). Names read
    from the state (sub-FDT names) are written as one safe file name each (unusual
    characters %XX-encoded), never as a path.

    \b
    Example:
      pcilu export gen1.elf -o gen1 && pcilu inspect gen1/flb/incoming/pci-v3.bin
    """
    set_json_mode(as_json)
    from pcilu_cli import api
    from pcilu_cli.state.export import prepare_export_dir
    prepare_export_dir(outdir)           # refused before the state is even read
    res = api.load(state).export(outdir)
    paths = [f["path"] for f in res["files"]]
    if as_json:
        print_json(res)
        return
    gone = f"; removed {len(res['removed'])} left by an earlier export" if res["removed"] else ""
    notice(f"wrote {plural(len(paths), 'file')} into {outdir}: {', '.join(paths)}{gone}")


__all__ = ["init", "preserve", "unpreserve", "finish", "kexec", "enumerate", "export",
           "hot_remove", "hot_add"]
