# SPDX-License-Identifier: GPL-2.0-only
"""The command line: a click group whose subcommands are imported only when invoked.

Keeping subcommand modules (and rich, and the kernel model) out of start-up is what keeps
``pcilu inspect --json`` close to the cost of ``import click, construct`` (conventions §3.5).
``main()`` is the one place where exceptions become messages and exit codes.
"""
from __future__ import annotations

import io
import os
import sys

import click

from pcilu_cli import __version__
from pcilu_cli.errors import ExitCode, PcIluError

# name -> "module:attribute"; the module lives in pcilu_cli.cli
COMMANDS = {
    "inspect": "cmd_inspect:inspect",
    "encode": "cmd_inspect:encode",
    "fabric": "cmd_fabric:fabric",
    "init": "cmd_kernel:init",
    "preserve": "cmd_kernel:preserve",
    "unpreserve": "cmd_kernel:unpreserve",
    "kexec": "cmd_kernel:kexec",
    "enumerate": "cmd_kernel:enumerate",
    "finish": "cmd_kernel:finish",
    "hot-remove": "cmd_kernel:hot_remove",
    "hot-add": "cmd_kernel:hot_add",
    "export": "cmd_kernel:export",
    "profiles": "cmd_profiles:profiles",
    "rehearse": "cmd_rehearse:rehearse",
    "diff": "cmd_diff:diff",
    "generate": "cmd_generate:generate",
    "report": "cmd_report:report",
    "capture": "cmd_capture:capture",
    "kernel": "cmd_kernel_image:kernel",
    "plan": "cmd_plan:plan",
    "examples": "cmd_examples:examples",
    "verify": "cmd_verify:verify",
}

# name -> the one-line summary `pcilu --help` lists (the first sentence of the command's help):
# the list is drawn from here, without importing every command module; tests/test_startup.py
# holds each line equal to the real command's. A command missing here is imported for its help.
SUMMARIES = {
    "inspect": "Decode a hand-over blob for a person, or for a script with --json.",
    "encode": "Build a raw `struct pci_ser` blob from a JSON list of entries.",
    "fabric": "Inspect and convert PCI fabrics (YAML, `lspci -xxxx` dump, sysfs snapshot).",
    "init": "Boot generation 0 on FABRIC and write its state file.",
    "preserve": "Preserve devices for the next kernel (their upstream bridges come along).",
    "unpreserve": "Stop preserving devices (their bridges' refcounts drop).",
    "kexec": ("Kexec into the next kernel: freeze, shut down (Bus Master stays on outgoing "
              "devices), hand over KHO/LUO/PCI FLB, boot generation N+1 and enumerate it."),
    "enumerate": ("What this generation's enumeration did, per device: incoming / outgoing, Bus "
                  "Master, bus numbers, ACS control and ARI Forwarding (and whether inherited), "
                  "enumerated or skipped — and the kernel log lines."),
    "finish": ("Finish incoming devices (the driver is done with them): refcounts drop up the "
               "path, and the incoming FLB is freed once every preserved device has finished."),
    "hot-remove": ("Hot-remove devices (and everything below them) from this kernel: each release "
                   "runs pci_liveupdate_cleanup_device()."),
    "hot-add": ("Rescan every bus (echo 1 > /sys/bus/pci/rescan): removed or new hardware is "
                "enumerated, with Live Update's bus-number rules still in force while devices are "
                "unfinished."),
    "export": ("Write the standard views of a generation (lspci dump, KHO FDTs, FLB blobs) into "
               "DIR."),
    "profiles": "List kernel profiles (ABI + behaviour of one series revision).",
    "rehearse": "Rehearse a Live Update from scenario files and check their expectations.",
    "diff": "Show what changed between two generations (state files) or two blobs.",
    "generate": ("Generate a synthetic fabric of FUNCTIONS functions (for benchmarks and scale "
                 "rehearsals)."),
    "report": "Write an HTML report of state files, a scenario, or pcilu JSON documents.",
    "capture": ("Capture this host for rehearsals: every PCI function (config space, topology "
                "links, SR-IOV attributes, bound driver, IOMMU group, power state), /proc/cmdline,"
                " uname -r, the kernel config, the KHO debugfs tree when mounted, and the "
                "PCI/KHO/LUO kernel log lines."),
    "kernel": ("Report a kernel build's release, CONFIG_KEXEC_HANDOVER / CONFIG_LIVEUPDATE / "
               "CONFIG_PCI_LIVEUPDATE, the hand-over ABI strings it carries (KHO, LUO, PCI FLB "
               "compatibles) and the pcilu profile that matches — or why it cannot take part."),
    "plan": ("Plan preserving devices: per device, preservable or not with the errno and the "
             "reason the kernel would give (VF, ACS quirk on the device or an upstream port, below"
             " a CardBus bridge or a bridge without a child bus, already preserved, ...), the "
             "bridges it pulls in with their resulting refcounts, struct pci_ser slots against "
             "max_nr_devices, and the LUO sessions needed."),
    "examples": "List (or copy) the example fabrics and scenarios that ship with pcilu.",
    "verify": "Hold a predicted generation against the real host after its kexec.",
}

EPILOG = """\b
Exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input (the message names
the file and offset/line/field), 4 refused by the simulated kernel (errno
name and kernel message), 5 the simulated kernel panicked, 6 a rehearsal
expectation failed, 130 interrupted (Ctrl-C).
\b
Set PCILU_DEBUG=1 (or pass --traceback) to see a Python traceback for
internal errors. Shell completion:
  eval "$(_PCILU_COMPLETE=bash_source pcilu)"
"""


INTERRUPTED = "interrupted (Ctrl-C); the unfinished command wrote nothing"


STDOUT = "<stdout>"             # how an error writing the command's output names it


class _Stdout(io.RawIOBase):
    """File descriptor 1 beneath the console script's ``sys.stdout``, so that a write that
    fails (a full disk behind ``> out.json``, ``> /dev/full``, a terminal gone: ENOSPC, EIO,
    EDQUOT) is an ``OSError`` naming ``<stdout>``: a file-system error like any other, one
    line and exit 3 (:func:`_run`), not an internal error whose JSON document would fail to
    print in turn. A broken pipe stays a ``BrokenPipeError`` (``| head``: quiet, exit 141)."""

    def __init__(self, fd: int):
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, b) -> int | None:
        view = memoryview(b).cast("B")
        done = 0
        try:
            while done < len(view):          # a pipe may take fewer bytes than asked
                done += os.write(self._fd, view[done:])
        except (BrokenPipeError, BlockingIOError):
            if done:
                return done
            raise
        except OSError as e:
            raise OSError(e.errno, e.strerror, STDOUT) from None
        return done


def _name_stdout() -> None:
    """Put :class:`_Stdout` beneath ``sys.stdout`` (the console script only: in-process
    callers bring their own stdout), buffered as the interpreter had it (``-u``)."""
    old = sys.stdout
    if old is not sys.__stdout__ or old is None:
        return
    try:
        fd = old.fileno()
        old.flush()
    except (AttributeError, OSError, ValueError):
        return
    raw = _Stdout(fd)
    buffered = isinstance(getattr(old, "buffer", None), io.BufferedWriter)
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(raw) if buffered else raw,
                                  encoding=old.encoding, errors=old.errors,
                                  line_buffering=old.line_buffering,
                                  write_through=old.write_through)


class _OutputClosed(Exception):
    """stdout went away mid-output; not an OSError, so click's own EPIPE handler (which
    exits 1, our "bug") lets it through to :func:`_run`."""


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def invoke(self, ctx):
        # Ctrl-C inside a command: our own error (one `pcilu:` line, exit 130, the --json
        # document), before click's handler prints a bare newline and "Aborted!"
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            from pcilu_cli.errors import Interrupted
            raise Interrupted(INTERRUPTED) from None
        except BrokenPipeError:
            raise _OutputClosed() from None

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def format_commands(self, ctx, formatter):
        """The command list of ``pcilu --help`` from :data:`SUMMARIES`: what click draws from
        the commands themselves (each shortened by click's own rule to the width), without
        importing them."""
        stand_ins = click.Group(commands={
            name: click.Command(name, help=SUMMARIES[name]) if name in SUMMARIES
            else self.get_command(ctx, name) for name in self.list_commands(ctx)})
        stand_ins.format_commands(ctx, formatter)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        mod_name, attr = target.split(":")
        # the import statement's machinery (not importlib.import_module), so that
        # `python -X importtime` names the command module with its cost
        module = __import__(f"pcilu_cli.cli.{mod_name}", fromlist=[attr])
        return getattr(module, attr)


@click.group(cls=LazyGroup, epilog=EPILOG,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="pcilu")
@click.option("--strict", is_flag=True, envvar="PCILU_STRICT",
              help="Treat warnings the kernel would only log as failures (exit 3).")
@click.option("-q", "--quiet", is_flag=True, help="Print no warnings or notices on stderr.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour for human output (NO_COLOR is honoured).")
@click.option("--traceback", is_flag=True, envvar="PCILU_DEBUG",
              help="Show a Python traceback for internal errors.")
@click.pass_context
def cli(ctx, strict, quiet, color, traceback):
    """pcilu — rehearse Linux PCI Live Update and decode its hand-over data.

    Reads a PCI fabric (YAML, `lspci -xxxx` dump or sysfs snapshot), applies the v6
    "PCI: liveupdate" series' rules to preserve/unpreserve/finish devices, serializes the
    KHO/LUO/PCI hand-over byte for byte at kexec and boots the next kernel generation.

    \b
    Typical rehearsal:
      pcilu init fixtures/fabrics/qemu-virtio-net.yaml -o gen0.elf
      pcilu preserve gen0.elf 0000:01:00.0
      pcilu kexec gen0.elf -o gen1.elf && pcilu enumerate gen1.elf
    """
    from pcilu_cli.cli.context import Settings, activate
    ctx.obj = activate(Settings(strict=strict, quiet=quiet, color=color, traceback=traceback))


GLOBAL_FLAGS = {"--strict", "-q", "--quiet", "--traceback"}
GLOBAL_WITH_VALUE = {"--color"}


def hoist_global_options(args: list[str]) -> list[str]:
    """Let the global options stand anywhere (``pcilu export S -o D -q`` as well as
    ``pcilu -q export ...``): CI scripts append flags; click only reads them before the
    subcommand. Nothing after ``--`` is touched."""
    front, rest, i = [], [], 0
    while i < len(args):
        a = args[i]
        if a == "--":
            rest.extend(args[i:])
            break
        if a in GLOBAL_FLAGS:
            front.append(a)
        elif a in GLOBAL_WITH_VALUE and i + 1 < len(args):
            front.extend(args[i:i + 2])
            i += 1
        elif a.split("=", 1)[0] in GLOBAL_WITH_VALUE:
            front.append(a)
        else:
            rest.append(a)
        i += 1
    return front + rest


def main(argv=None):
    """Console-script entry point: run the group and map every outcome to an exit code."""
    args = hoist_global_options(sys.argv[1:] if argv is None else list(argv))
    if argv is None:
        _name_stdout()
    from pcilu_cli.cli.context import Settings, activate
    activate(Settings())
    # One command, then exit: the cyclic GC only slows down building the big object graphs
    # (every pci_dev and function of a host is alive until the end). Restored for in-process
    # callers (tests).
    import gc
    gc_was = gc.isenabled()
    gc.disable()
    try:
        code = _run(args)
    finally:
        if gc_was:
            gc.enable()
        if argv is None:
            # the process ends next: move every object out of the collector's sight, so that
            # the interpreter's collections at exit do not walk the whole heap (click's and
            # the command's objects) only to find that nothing is garbage. Refcounted objects
            # are still released; stdout/stderr are flushed as always. Not done for in-process
            # callers, whose collector keeps working.
            gc.freeze()
    sys.exit(code)


def _usage_json(args, err, code) -> None:
    """A usage error is raised before the command could switch JSON mode on; when ``--json``
    is on the command line, still print the one JSON document the contract promises."""
    words = args[:args.index("--")] if "--" in args else args
    if "--json" not in words:
        return
    from pcilu_cli.cli.context import print_json
    print_json({"kind": "error", "error": "UsageError", "exit_code": int(code),
                "message": " ".join(err.format_message().split())})


def _json_if_asked(args) -> None:
    """Ctrl-C before the command switched JSON mode on (while loading) still gets the one
    JSON document --json promises (and never a second one)."""
    from pcilu_cli.cli.context import current_settings
    words = args[:args.index("--")] if "--" in args else args
    s = current_settings()
    if "--json" in words and not s.json_printed:
        s.json_mode = True


def _quiet_stdout() -> None:
    """stdout was closed early: point it at /dev/null so the interpreter's final flush does
    not raise again (Python's SIGPIPE advice)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):      # no real file descriptor (in-process runners)
        pass


def _emit(err) -> None:
    """:func:`~pcilu_cli.cli.context.emit_error`, when stdout may be gone (closed by ``| head``
    or failing): the ``pcilu: error:`` line on stderr still appears, the rest is dropped."""
    from pcilu_cli.cli.context import emit_error
    try:
        emit_error(err)
    except BrokenPipeError:
        _quiet_stdout()
    except OSError as e:
        if e.filename != STDOUT:
            raise
        _quiet_stdout()


def _run(args) -> int:
    try:
        rv = cli.main(args=args, prog_name="pcilu", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except PcIluError as e:
        code = e.exit_code
        from pcilu_cli.errors import Interrupted
        if isinstance(e, Interrupted):
            _json_if_asked(args)
        _emit(e)                     # (`pcilu ... --json | head -c 10` on a failure too)
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.UsageError as e:
        e.show()
        code = ExitCode.USAGE
        _usage_json(args, e, code)
    except click.ClickException as e:
        e.show()
        code = e.exit_code
        _usage_json(args, e, code)
    except (click.Abort, KeyboardInterrupt):
        # Ctrl-C: one pcilu line, exit 130 (128 + SIGINT, as shells report it); --json still
        # gets its one document. Outputs are written atomically, so nothing half-written stays.
        from pcilu_cli.errors import Interrupted
        err = Interrupted(INTERRUPTED)
        code = err.exit_code
        _json_if_asked(args)
        _emit(err)
    except (BrokenPipeError, _OutputClosed):
        # stdout closed early (e.g. `| head`): keep quiet, as Python's SIGPIPE advice says
        _quiet_stdout()
        code = ExitCode.BROKEN_PIPE
    except OSError as e:
        if e.filename is None:
            code = _internal(e)
        else:
            # a file-system error on a named file (read-only place, a file where a directory
            # is expected, ...) is bad input: one line naming the file, exit 3. On stdout
            # (full disk): the output stops there; the line goes to stderr, no JSON document
            from pcilu_cli.errors import BadInput
            message = f"{e.strerror or e}"
            if e.filename == STDOUT:
                _quiet_stdout()
                from pcilu_cli.cli.context import current_settings
                current_settings().json_mode = False
                message = f"the output could not be written: {message}"
            err = BadInput(message, file=e.filename)
            code = err.exit_code
            _emit(err)
    except Exception as e:  # noqa: BLE001 - the one place internal errors are reported
        code = _internal(e)
    return code


def _internal(e: BaseException) -> int:
    from pcilu_cli.cli.context import current_settings
    s = current_settings()
    if s.traceback or os.environ.get("PCILU_DEBUG"):
        import traceback
        traceback.print_exception(e)
    click.echo(f"pcilu: internal error: {type(e).__name__}: {e} "
               "(re-run with --traceback and report it)", err=True)
    if s.json_mode:
        from pcilu_cli.cli.context import print_json
        try:
            print_json({"kind": "error", "error": type(e).__name__, "exit_code": 1,
                        "message": f"internal error: {e}"})
        except OSError:              # stdout gone too: the stderr line above is the report
            _quiet_stdout()
    return ExitCode.INTERNAL
