# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu generate``: write a synthetic fabric of N functions, for benchmarks and for users who
want to rehearse at the scale of a real host or fleet (a full PCI domain is 65,536 functions).

The fabric comes from ``pcilu_cli.fabric.synth.synth_fabric`` (root ports → switches →
endpoints, some multi-function, firmware-assigned bus numbers; deterministic for a seed) and is
written by the fabric package's own writers, chosen by the output's suffix:

* ``.yaml`` / ``.yml``  the hand-editable YAML format (docs/fabric-format.md) — slow and large
  beyond a few thousand functions;
* ``.txt`` / ``.lspci`` an ``lspci -xxxx``-style dump that ``lspci -F`` reads — 4 KiB of hex
  per function, so only for small fabrics;
* anything else (``.fab`` is the convention) the compact serialized fabric
  (``Fabric.to_bytes``: zlib, identical config spaces stored once), which every command that
  takes a FABRIC reads (``load_fabric`` recognises it by its magic). This is the default because
  it is the only one that stays small and fast at 262,144 functions.
"""
from __future__ import annotations

import sys

import click

from pcilu_cli.cli.context import notice, print_json, set_json_mode
from pcilu_cli.errors import UsageError

FUNCTIONS_PER_DOMAIN = 65536          # 256 buses x 256 devfns
FORMATS = ("auto", "binary", "yaml", "lspci")


def _format_for(path: str, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    low = path.lower()
    if low.endswith((".yaml", ".yml")):
        return "yaml"
    if low.endswith((".txt", ".lspci")):
        return "lspci"
    return "binary"


def serialize(fabric, fmt: str) -> bytes:
    """The bytes of ``fabric`` in one of the fabric package's file formats."""
    if fmt == "yaml":
        from pcilu_cli.fabric.yamlfmt import dump_yaml
        return dump_yaml(fabric).encode("utf-8")
    if fmt == "lspci":
        from pcilu_cli.fabric.lspci import export_dump
        return export_dump(fabric).encode("utf-8")
    return fabric.to_bytes()


SHAPES = ("tree", "sriov", "ari")


def generate_fabric(functions: int, domains: int | None = None, seed: int = 0,
                    shape: str = "tree"):
    """Validate the request and build the fabric with the fabric package's generator."""
    if functions < 1:
        raise UsageError(f"--functions must be at least 1 (got {functions})")
    if domains is None:
        domains = max(1, -(-functions // FUNCTIONS_PER_DOMAIN))
    if domains < 1:
        raise UsageError(f"--domains must be at least 1 (got {domains})")
    if functions > domains * FUNCTIONS_PER_DOMAIN:
        need = -(-functions // FUNCTIONS_PER_DOMAIN)
        raise UsageError(f"{functions:,} functions do not fit in {domains} PCI domain"
                         f"{'s' if domains > 1 else ''} (at most {FUNCTIONS_PER_DOMAIN:,} each); "
                         f"use --domains {need} or more")
    from pcilu_cli.fabric.synth import synth_fabric
    return synth_fabric(functions, domains=domains, seed=seed, shape=shape), domains


@click.command()
@click.option("-n", "--functions", type=int, required=True,
              help="Number of PCI functions (bridges, endpoints and VFs all count).")
@click.option("-d", "--domains", type=int, default=None,
              help="Minimum number of PCI domains (segments) [default: as few as 65,536 "
                   "functions each need]; the generator adds domains when a domain's 256 bus "
                   "numbers are used up.")
@click.option("-s", "--seed", type=int, default=0, show_default=True,
              help="Seed of the generator: same seed, same fabric, byte for byte.")
@click.option("-o", "--output", metavar="FABRIC", required=True,
              help="Fabric file to write (`-` = stdout).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="auto: by suffix (.yaml/.yml YAML, .txt/.lspci lspci dump, else the compact "
                   "serialized fabric).")
@click.option("--shape", type=click.Choice(SHAPES), default="tree", show_default=True,
              help="tree: root ports -> switches -> endpoints (~886 functions per domain); "
                   "sriov: 8 SR-IOV PFs x 256 VFs, then NVMe behind switches (a realistic "
                   "host at ~4,096); ari: 255 root ports each with a 256-function ARI device "
                   "(65,536 functions in one domain).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def generate(functions, domains, seed, output, fmt, shape, as_json):
    """Generate a synthetic fabric of FUNCTIONS functions (for benchmarks and scale rehearsals).

    \b
    Examples:
      pcilu generate --functions 65536 -o host.fab
      pcilu generate -n 262144 --domains 4 --seed 7 -o fleet.fab
      pcilu generate -n 64 -o small.yaml          # hand-editable YAML
      pcilu generate -n 65536 --shape ari -o domain.fab   # one full PCI domain
      pcilu generate -n 4096 --shape sriov -o host.fab    # 8 PFs x 256 VFs + NVMe
      pcilu init host.fab -o gen0.elf
    """
    set_json_mode(as_json)
    fmt = _format_for(output, fmt)
    if output == "-" and as_json:
        raise UsageError("--json prints a summary on stdout; it cannot be combined with -o -")
    if output == "-" and fmt == "binary" and sys.stdout.isatty():
        raise UsageError("refusing to write a binary fabric to a terminal: redirect -o - to "
                         "a file or a pipe, or use --format yaml")
    fabric, domains = generate_fabric(functions, domains, seed, shape)
    data = serialize(fabric, fmt)
    from pcilu_cli.state.store import atomic_write
    atomic_write(output, data)
    # the generator may need more domains than asked (a domain ends when its 256 bus numbers
    # are used up), and counts VFs it exposes: report what was built, not what was asked
    functions = len(fabric)
    domains = len(fabric.domains())
    summary = {"kind": "generate", "file": output, "format": fmt, "functions": functions,
               "domains": domains, "shape": shape, "seed": seed, "bytes": len(data)}
    if as_json:
        print_json(summary)
    elif output != "-":
        notice(f"wrote {output}: {functions:,} functions in {domains} domain"
               f"{'s' if domains > 1 else ''} ({shape} shape, {fmt}, {len(data):,} bytes, "
               f"seed {seed})")
