# SPDX-License-Identifier: GPL-2.0-only
"""The click group ``pcilu``: global options, ``--help``, ``--version``, and subcommands whose
modules are imported only when invoked (the table is cli/commands.py).

Keeping subcommand modules (and rich, and the kernel model) out of start-up is what keeps
``pcilu inspect --json`` close to the cost of ``import click, construct`` (conventions §3.5).
Every command line that cli/fastpath.py does not take comes here.
"""
from __future__ import annotations

import click

from pcilu_cli import __version__
from pcilu_cli.cli.commands import COMMANDS, SUMMARIES
from pcilu_cli.cli.context import run_command

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



class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def invoke(self, ctx):
        return run_command(lambda: super(LazyGroup, self).invoke(ctx))

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
