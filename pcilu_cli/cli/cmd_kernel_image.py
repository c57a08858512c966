# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu kernel IMAGE``: what a kernel build can do for a Live Update, and which pcilu
profile speaks its ABI (the analysis: pcilu_cli/abi/kernel_image.py)."""
from __future__ import annotations

import click

from pcilu_cli.cli.context import notice, print_json, set_json_mode


@click.command()
@click.argument("image", metavar="IMAGE")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def kernel(image, as_json):
    """Report a kernel build's release, CONFIG_KEXEC_HANDOVER / CONFIG_LIVEUPDATE /
    CONFIG_PCI_LIVEUPDATE, the hand-over ABI strings it carries (KHO, LUO, PCI FLB
    compatibles) and the pcilu profile that matches — or why it cannot take part.

    IMAGE is a vmlinux (ELF), a bzImage/vmlinuz (the compressed payload is found and
    inflated: gzip, xz, lzma, zstd, lz4, bzip2), a kernel .config or /proc/config.gz, a
    Debian kernel package (.deb), or a directory holding them (e.g. /boot or an unpacked
    package). The profile it prints is what `--kernel IMAGE` selects in init, kexec,
    profiles --matrix and scenario files.

    \b
    Examples:
      pcilu kernel /proc/config.gz
      pcilu kernel /boot/vmlinuz-$(uname -r) --json | jq .profile
      pcilu kernel linux-image-6.1.0-57-cloud-amd64-unsigned_6.1.192-3_amd64.deb
    """
    set_json_mode(as_json)
    from pcilu_cli.abi.kernel_image import analyse
    doc = analyse(image)
    if as_json:
        print_json(doc)
        return
    for n in doc["notes"]:
        notice(n)

    def yn(v):
        return {True: "y", False: "n", None: "?"}[v]
    cfg = doc["config"]
    lines = [f"{image}: Linux {doc['release'] or '(release unknown)'}",
             "  config: " + "  ".join(f"CONFIG_{k}={yn(v)}" for k, v in cfg.items())
             + (f"  ({doc['config_source']})" if doc["config_source"] else "")]
    abi = doc["abi"]
    shown = ", ".join(f"{k} {v}" for k, v in abi.items() if v is not None)
    lines.append(f"  ABI strings: {shown or 'none'}")
    for i in doc["inputs"]:
        extra = f", {i['payload']} payload at {i['payload_offset']:#x}" if "payload" in i else ""
        lines.append(f"  read {i['file']} ({i['what']}{extra})")
    if doc["profile"]:
        lines.append(f"profile {doc['profile']}: {doc['reason']}")
    else:
        lines.append(doc["reason"])
    click.echo("\n".join(lines))
