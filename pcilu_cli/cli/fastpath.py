# SPDX-License-Identifier: GPL-2.0-only
"""The command lines a rehearsal script runs most, parsed without click.

``import click`` is ~22 ms of the ~70 ms every ``pcilu`` process pays before it does any work
(it brings inspect, typing, uuid, datetime, urllib), and a CI job runs a dozen kernel
commands per rehearsal. So :func:`parse` takes the plain form of these command lines —

    init FABRIC -o STATE [--json]
    preserve STATE BDF... [--session NAME] [--wait SECONDS] [--json]
    finish STATE BDF... [--wait SECONDS] [--json]
    kexec STATE -o NEXT [--json]
    enumerate STATE --json

— and :func:`invoke` runs the same action the click command runs (cli/kernel_actions.py)
with the same values click would have passed. Anything else is not parsed here but handed to
click as it is: another command or option, a global option, ``-h``, a value that looks like
an option, an option given twice, ``--``, ``-`` for stdin, a number click would have to
convert, a missing or extra argument, PCILU_STRICT/PCILU_DEBUG or shell completion in the
environment. So a command line means exactly what it means to click, and every usage error
and help text is click's own; tests/test_fastpath.py holds both parsers to the same values
for every command line this module takes, and each table below to its click declaration.
"""
from __future__ import annotations

import os

# click reads these (--strict, --traceback, shell completion) from the environment
CLICK_ENVIRONMENT = ("PCILU_STRICT", "PCILU_DEBUG", "_PCILU_COMPLETE")


def _seconds(value: str) -> bool:
    """--wait: a value click.FloatRange(0) turns into the same float — digits, then at most
    one point and digits (no sign, exponent, inf or nan: those are click's to judge). (No
    regular expression: ``re`` is not otherwise imported by these commands.)"""
    whole, _, frac = value.partition(".")
    return whole.isascii() and whole.isdigit() and (not frac or frac.isascii() and frac.isdigit())


FLAG, VALUE, SECONDS = "flag", "value", "seconds"


class Spec:
    """One command as this parser takes it: its positional parameters (``many``: the last
    one takes one or more), its options (spelling -> (parameter, kind)), the options it must
    be given, and the value of every parameter of the click command left at its default."""

    def __init__(self, positional, many, options, required=(), defaults=None):
        self.positional = positional
        self.many = many
        self.options = options
        self.required = required
        self.defaults = defaults or {}


# what each click command passes for the parameters a fast command line never sets (the
# selector options of cli/selectors.py: none given)
_NO_SELECTION = {"sel_slots": (), "sel_ids": (), "sel_classes": (), "sel_below": (),
                 "sel_drivers": (), "sel_all": False}

SPECS = {
    "init": Spec(("fabric",), False,
                 {"-o": ("output", VALUE), "--output": ("output", VALUE),
                  "--json": ("as_json", FLAG)},
                 required=("output",),
                 defaults={"profile": None, "kernel_image": None, "cmdline": "",
                           "as_json": False}),
    "preserve": Spec(("state", "bdfs"), True,
                     {"--session": ("session", VALUE), "--wait": ("wait", SECONDS),
                      "--json": ("as_json", FLAG)},
                     defaults={"session": None, "token": None, "dry_run": False,
                               "wait": 30.0, "as_json": False, **_NO_SELECTION}),
    "finish": Spec(("state", "bdfs"), True,
                   {"--wait": ("wait", SECONDS), "--json": ("as_json", FLAG)},
                   defaults={"wait": 30.0, "as_json": False, **_NO_SELECTION}),
    "kexec": Spec(("state",), False,
                  {"-o": ("output", VALUE), "--output": ("output", VALUE),
                   "--json": ("as_json", FLAG)},
                  required=("output",),
                  defaults={"profile": None, "kernel_image": None, "cmdline": None,
                            "fabric_path": None, "flb_path": None, "flb_name": None,
                            "flb_count": None, "as_json": False}),
    # the stored document is printed as it is only with --json; the text forms draw with
    # click.style and stay with click
    "enumerate": Spec(("state",), False, {"--json": ("as_json", FLAG)},
                      required=("as_json",),
                      defaults={"as_json": False, "show_all": False, "debug": False,
                                "tree": False}),
}


def parse(args, environ=None):
    """``(command, params)`` — ``params`` as click would pass them to the command's function —
    for a command line of the forms above; None for any other (click's to parse)."""
    env = os.environ if environ is None else environ
    if not args or any(k in env for k in CLICK_ENVIRONMENT):
        return None
    spec = SPECS.get(args[0])
    if spec is None:
        return None
    given, words = {}, []
    i, n = 1, len(args)
    while i < n:
        a = args[i]
        i += 1
        if not a.startswith("-"):
            words.append(a)
            continue
        name, eq, value = a.partition("=") if a.startswith("--") else (a, "", "")
        opt = spec.options.get(name)
        if opt is None or a == "-":
            return None
        param, kind = opt
        if kind == FLAG:
            if eq:
                return None               # click: "option does not take a value"
            value = True
        elif not eq:
            if i == n or args[i].startswith("-"):
                return None               # no value, or one click would read as it is
            value = args[i]
            i += 1
        if param in given:
            return None                   # click keeps the last; left to it
        if kind == SECONDS:
            if not _seconds(value):
                return None
            value = float(value)
        given[param] = value
    if any(p not in given for p in spec.required):
        return None
    npos = len(spec.positional)
    if len(words) < npos or len(words) > npos and not spec.many:
        return None
    params = dict(spec.defaults)
    params.update(given)
    for k, name in enumerate(spec.positional):
        params[name] = tuple(words[k:]) if spec.many and k == npos - 1 else words[k]
    return args[0], params


def invoke(call):
    """Run a parsed command line as the click group would run it: the global settings at
    their defaults, Ctrl-C and a closed stdout turned into our outcomes by the same wrapper
    the group's invoke uses (:func:`~pcilu_cli.cli.context.run_command`), EOF on input a
    Ctrl-C (as click's main does: one empty line on stderr first)."""
    import sys
    from pcilu_cli.cli.context import Settings, activate, run_command
    command, params = call
    activate(Settings())
    try:
        return run_command(lambda: _run(command, params))
    except EOFError:
        sys.stderr.write("\n")
        sys.stderr.flush()
        raise KeyboardInterrupt from None


def _run(command, p):
    from pcilu_cli.cli import kernel_actions as act
    if command == "init":
        return act.init(p["fabric"], p["output"], p["profile"], p["kernel_image"],
                        p["cmdline"], p["as_json"])
    # no selection (sel=None) is what an empty one does with the BDFs the parse requires:
    # resolve() hands them on as they are (and fabric/selectors.py is not imported)
    if command == "preserve":
        return act.preserve(p["state"], p["bdfs"], p["session"], p["token"], p["dry_run"],
                            p["wait"], p["as_json"], None)
    if command == "finish":
        return act.finish(p["state"], p["bdfs"], p["wait"], p["as_json"], None)
    if command == "kexec":
        return act.kexec(p["state"], p["output"], p["profile"], p["cmdline"], p["as_json"])
    if command == "enumerate":
        return act.enumerate(p["state"], p["as_json"], p["show_all"], p["debug"], p["tree"])
    raise AssertionError(command)

