# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu capture``: one deterministic archive of this host's PCI facts, readable by
``init``, ``fabric show``, ``inspect`` and ``plan`` (the format: pcilu_cli/fabric/capture.py)."""
from __future__ import annotations

import click

from pcilu_cli.cli.context import notice, print_json, set_json_mode


@click.command()
@click.option("-o", "--output", metavar="HOST.tar.gz", default=None,
              help="Archive to write (default: HOSTNAME.tar.gz here; `-` = stdout).")
@click.option("--root", metavar="DIR", default=None,
              help="Capture a copied tree (a directory holding sys/bus/pci/devices, e.g. a "
              "chroot or an unpacked snapshot) instead of this host; no kernel log is read.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def capture(output, root, as_json):
    """Capture this host for rehearsals: every PCI function (config space, topology links,
    SR-IOV attributes, bound driver, IOMMU group, power state), /proc/cmdline, uname -r, the
    kernel config, the KHO debugfs tree when mounted, and the PCI/KHO/LUO kernel log lines.

    Same host, same bytes (fixed order, times and owners). Without root, sysfs gives 64 bytes
    of config space per function: the capture says so and records what it got.

    \b
    Examples:
      sudo pcilu capture -o host.tar.gz
      pcilu plan host.tar.gz --all && pcilu init host.tar.gz -o gen0.elf
    """
    set_json_mode(as_json)
    import os
    from pcilu_cli.fabric.capture import build_capture
    from pcilu_cli.state.store import atomic_write
    if output is None:
        output = f"{os.uname().nodename or 'host'}.tar.gz"
    if as_json and output == "-":
        raise click.UsageError("--json and -o - both want stdout")
    data, man = build_capture(root or "/", live=root is None)
    atomic_write(output, data)
    doc = {"kind": "capture", "file": output, "bytes": len(data),
           "functions": man["functions"], "privileged": man["privileged"],
           "release": man["release"], "kernel_config": man["kernel_config"],
           "kernel_log_lines": (man["kernel_log"] or {}).get("lines"),
           "kho_debugfs": man["kho_debugfs"], "notes": man["notes"]}
    if as_json:
        print_json(doc)
        return
    for n in man["notes"]:
        notice(n)
    if output != "-":
        click.echo(f"{output}: {man['functions']} PCI functions, {len(data)} bytes"
                   + (f", kernel {man['release']}" if man["release"] else ""))


def inspect_capture(path: str, as_json: bool) -> None:
    """``pcilu inspect CAPTURE``: the manifest and the fabric it holds."""
    from pcilu_cli.fabric.capture import load_capture, read_manifest
    man = read_manifest(path)
    fab = load_capture(path)
    devs = man["devices"]
    doc = {"kind": "capture", "file": path, "format": man["format"], "release": man["release"],
           "privileged": man["privileged"], "cmdline": man["cmdline"],
           "kernel_config": man["kernel_config"], "kernel_log": man["kernel_log"],
           "kho_debugfs": man["kho_debugfs"], "functions": len(fab),
           "devices": [{"bdf": b, **{k: v for k, v in f.items() if k != "path"}}
                       for b, f in sorted(devs.items())],
           "notes": man["notes"]}
    if as_json:
        print_json(doc)
        return
    from pcilu_cli.cli.context import plain_table
    head = f"{path}: pcilu capture, {len(fab)} functions"
    if man["release"]:
        head += f", kernel {man['release']}"
    if man["privileged"] is False:
        head += " (captured without root)"
    rows = [(b, f.get("vendor", "")[2:] + ":" + f.get("device", "")[2:],
             f.get("class", "")[2:6], f.get("driver", ""), f.get("iommu_group", ""),
             f.get("power_state", ""), str(f.get("config_bytes", "")))
            for b, f in sorted(devs.items())]
    lines = [head] + plain_table(("BDF", "ID", "class", "driver", "iommu", "power",
                                  "config"), rows, right=(6,))
    lines += [f"note: {n}" for n in man["notes"]]
    click.echo("\n".join(lines))
