# SPDX-License-Identifier: GPL-2.0-only
"""What the generation commands do once their arguments are parsed: ``init``, ``preserve``,
``unpreserve``'s and ``finish``'s transaction, ``kexec`` of a state, ``enumerate``.

The click declarations (options, help, completion) are in cli/cmd_kernel.py, which calls
these; cli/fastpath.py calls the same functions for the common command lines without
importing click at all. So nothing here imports click: output goes through
:func:`~pcilu_cli.cli.context.echo`, usage errors are :class:`~pcilu_cli.errors.UsageError`.

Each command is one userspace action on one booted kernel: load the state (under its lock for
the commands that change it), act, save atomically. A refusal (exit 4) or bad input (exit 3)
changes nothing; a panic (exit 5) is recorded in the state that is written.
"""
from __future__ import annotations

from pcilu_cli.cli.context import (busy, echo, notice, plural, print_json, set_json_mode,
                                   warn)
from pcilu_cli.cli.selectors import profile_from, resolve
from pcilu_cli.errors import KernelPanic


# pci_warn/pci_WARN texts of the void operations (spec §12, M8/M9/M11/M14/M20/M21): the
# kernel returns nothing, so the log line is the only sign that nothing happened
KERNEL_WARNINGS = ("Cannot unpreserve device", "Preserved device has a 0 refcount!",
                   "Cannot finish preserving")


def warn_kernel_lines(r: dict, op: str) -> None:
    for ln in r.get("messages", []):
        if any(w in ln for w in KERNEL_WARNINGS):
            warn(f"{op} {r.get('bdf', '?')}: the kernel only logged: {ln}")


def message_lines(lines) -> list:
    """The kernel's log lines of one result, as they are printed under it."""
    return [f"  {ln}" for ln in lines]


def echo_messages(lines):
    echo_lines(message_lines(lines))


def echo_lines(lines) -> None:
    """Print lines in one write: `finish` of 1,000 devices prints ~5,000 lines, and one
    write per line was a measurable part of the command."""
    text = "\n".join(lines)
    if text:
        echo(text)


# ---- init -----------------------------------------------------------------------------------

def init(fabric, output, profile, kernel_image, cmdline, as_json):
    set_json_mode(as_json)
    profile = profile_from(profile, kernel_image, notice=notice)
    from pcilu_cli import api
    from pcilu_cli.cli.fabric_input import load_fabric
    fab = load_fabric(fabric)
    try:
        with busy(f"booting generation 0 on {len(fab)} functions", size=len(fab)):
            m = api.init(fab, profile=profile, cmdline=cmdline)
    except KernelPanic as exc:
        exc.machine.save(output)
        raise
    m.save(output)
    sim = m.sim
    n = len(sim.kernel.devices)
    if as_json:
        print_json({"kind": "init", "state": output, "generation": 0,
                    "profile": m.profile, "functions": len(fab), "enumerated": n,
                    "messages": sim.boot_messages + sim.kernel.log.lines()})
    else:
        echo(f"{output}: generation 0 ({m.profile}), "
             f"{n} of {plural(len(fab), 'function')} enumerated")


# ---- preserve / unpreserve / finish -----------------------------------------------------------

def mutate(state, bdfs, wait, action, as_json, kind, check=None, sel=None, dry_run=False):
    """``action(machine, bdfs, check)`` (a method of the API's Machine, pcilu_cli.api) on every
    BDF (and every device the selectors pick) in one locked transaction; ``check(result)`` runs
    inside it, so a warning that --strict turns into a failure also leaves the state unchanged.
    ``dry_run``: the same on the loaded state, which is then dropped (nothing written, no lock
    taken)."""
    import contextlib
    from pcilu_cli.api.machine import Machine
    from pcilu_cli.state import load, transaction
    ctx = contextlib.nullcontext(load(state)) if dry_run else transaction(state, wait=wait)
    with ctx as sim:
        if sel is not None:
            bdfs = resolve(sim, bdfs, sel, kind)
        results = action(Machine(sim, disposable=True), bdfs, check)["results"] if bdfs else []
    if as_json:
        doc = {"kind": kind, "state": state, "results": results}
        if dry_run:
            doc["dry_run"] = True
        print_json(doc)
    return results


def echo_paths(verb, results, with_session=False):
    out = []
    for r in results:
        path = " -> ".join(f"{p['bdf']} ({p['refcount']})" for p in r["path"])
        where = f" in session {r['session']!r}" if with_session else ""
        out.append(f"{verb} {r['bdf']}{where}: {path}")
        out += message_lines(r["messages"])
    echo_lines(out)


def preserve(state, bdfs, session, token, dry_run, wait, as_json, sel):
    set_json_mode(as_json)

    def act(m, b, c):
        if session != "auto":
            return m.preserve(*b, session=session, token=token, check=c)
        from pcilu_cli.rehearsal.plan import next_auto_session
        out = []
        for x in b:
            s = next_auto_session(m.sim.kernel)
            out += m.preserve(x, session=s, token=token, check=c)["results"]
        return {"kind": "preserve", "results": out}
    res = mutate(state, bdfs, wait, act, as_json, "preserve", sel=sel, dry_run=dry_run)
    if not as_json:
        echo_paths("would preserve" if dry_run else "preserved", res, with_session=True)
        if dry_run:
            notice(f"dry run: {state} is unchanged")


def finish(state, bdfs, wait, as_json, sel):
    set_json_mode(as_json)
    res = mutate(state, bdfs, wait, lambda m, b, c: m.finish(*b, check=c), as_json, "finish",
                 check=lambda r: warn_kernel_lines(r, "finish"), sel=sel)
    if not as_json:
        out = []
        for r in res:
            verb = "finished" if r.get("file") else "finish (no incoming file):"
            out.append(f"{verb} {r.get('bdf', '?')}")
            out += message_lines(r.get("messages", []))
        echo_lines(out)


# ---- kexec ------------------------------------------------------------------------------------

def kexec(state, output, profile, cmdline, as_json):
    """``kexec STATE -o NEXT``: ``profile`` already resolved from --profile/--kernel."""
    set_json_mode(as_json)
    from pcilu_cli import api
    from pcilu_cli.api.machine import Machine
    refuse_same_file(state, output)
    # loaded for this one kexec: the API may consume it (STATE on disk is not changed)
    m = Machine(api.load(state).sim, disposable=True)
    try:
        with busy(f"kexec: booting generation {m.generation + 1} on {len(m.fabric)} "
                  "functions", size=len(m.fabric)):
            nxt = m.kexec(profile=profile, cmdline=cmdline)
    except KernelPanic as exc:
        # a panicked STATE cannot kexec: its panic is raised again and nothing is written
        if exc.machine is not None:
            exc.machine.save(output)
            say_written_panicked(exc, output)
        raise
    write_next(nxt, output, as_json)


def write_next(nxt, output, as_json) -> None:
    """Save the booted next generation to ``output`` and say so (both ways of kexec)."""
    # the new state keeps the enumerate document of this boot (what `enumerate --json` of it
    # prints until it changes), rendered while every pci_dev is in memory
    from pcilu_cli.cli.context import json_text
    nxt.save(output, report_json=json_text)
    if as_json:
        print_json({**nxt.enumerate(), "kind": "kexec", "state": output})
    else:
        # the one line needs no enumerate report (a document of every function: 0.5 s at
        # 65,536): what the report would count as incoming is a pci_dev with an incoming slot
        sim = nxt.sim
        inc = sum(1 for d in sim.kernel.devices.values() if d.incoming is not None)
        echo(f"{output}: generation {sim.generation} ({sim.kernel.profile.name}), "
             f"hand-over {sim.kho_in.get('status')}, {plural(inc, 'incoming device')}")


def refuse_same_file(state: str, output: str) -> None:
    """``kexec STATE -o STATE`` would overwrite the pre-kexec record kexec promises to keep."""
    import os
    if state == "-" or output == "-":
        return
    same = os.path.realpath(state) == os.path.realpath(output)
    if not same:
        try:
            same = os.path.samefile(state, output)
        except OSError:
            same = False
    if same:
        from pcilu_cli.errors import UsageError
        raise UsageError(f"-o {output} is STATE itself: kexec keeps STATE as the pre-kexec "
                         "record, so write the next generation to another file (e.g. "
                         "gen1.elf)")


def say_written_panicked(exc, output: str) -> None:
    """The panic's one line also says where the panicked generation went."""
    gen = getattr(exc.machine, "generation", None)
    what = f"generation {gen}" if gen is not None else "the next generation"
    exc.message = (f"{exc.message} ({output} was written as a panicked {what}: "
                   "phase panicked)")


# ---- enumerate --------------------------------------------------------------------------------

def enumerate(state, as_json, show_all, debug, tree):  # noqa: A001 - the kernel's word
    set_json_mode(as_json)
    from pcilu_cli import api
    m = api.load(state)
    if as_json and not debug:
        data = m.sim.stored_report_pieces()  # kept by the kexec that wrote STATE, if unchanged
        if data is not None:
            from pcilu_cli.cli.context import print_json_pieces
            print_json_pieces(data)
            return
    rep = m.enumerate(debug=debug)
    if as_json:
        print_json(rep)
    elif tree:
        _render_tree(m.sim, rep, state, show_all)
    else:
        from pcilu_cli.cli.render_enumerate import render_report
        render_report(rep, state, show_all=show_all)
    if rep.get("panic"):
        # the report (with its "panic") is the one JSON document; the error goes to stderr only
        set_json_mode(False)
        raise KernelPanic(rep["panic"])


def _render_tree(m, rep, state, show_all):
    """``enumerate --tree``: the fabric tree with this generation's marks, then the log."""
    from pcilu_cli.cli.cmd_fabric import print_marked_tree, touched_with_ancestors
    from pcilu_cli.cli.pathmarks import generation_marks
    from pcilu_cli.cli.render_enumerate import SMALL_FABRIC
    fab = m.fabric
    gmarks = generation_marks(rep)
    keep = None
    if not show_all and len(fab) > SMALL_FABRIC:
        # as the table: what Live Update touched; a lost Bus Master alone is every function
        # that was not outgoing, so it does not count
        keep = touched_with_ancestors(fab, [u for u, mk in gmarks.items()
                                            if any(k != "bm_lost" for k in mk)])
    head = f"{state}: generation {rep['generation']} ({rep['profile']})"
    if (rep.get("kho") or {}).get("status"):
        head += f", hand-over: {rep['kho']['status']}"
    print_marked_tree(fab, gmarks, head, keep=keep)
    lines = []
    if keep is not None:
        hidden = len(fab) - len(keep)
        if hidden:
            lines.append(f"{hidden} other functions not shown (not preserved, incoming or "
                         "skipped; --all draws them)")
    if rep.get("panic"):
        lines.append(f"Kernel panic - not syncing: {rep['panic']}")
    if rep["messages"]:
        lines.append("kernel log:")
        lines.extend(f"  {ln}" for ln in rep["messages"])
    for ln in lines:
        echo(ln)
