# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu inspect`` (decode any hand-over blob) and ``pcilu encode`` (build a blob from JSON).

``inspect`` asks the front door (``pcilu_cli.state.files``) what it is given: an ELF image (a
pcilu state file or a real memory dump), a flattened device tree (a KHO root FDT or LUO FDT), a
LUO FLB page, a ``struct kho_kexec_metadata``, or a raw ``struct pci_ser``. A raw ``pci_ser``
carries no compatible string, so without ``--profile`` the layout is detected from the bytes
and the assumption is stated on stderr; a file of no known format is refused (exit 3) unless
``--profile`` forces a layout.
"""
from __future__ import annotations

import json

import click

from pcilu_cli.abi import pci
from pcilu_cli.abi.bdf import format_dev_id
from pcilu_cli.abi.detect import _folio_size
from pcilu_cli.abi.formats import GZIP_MAGIC
from pcilu_cli.abi.profiles import BLOCK, FLEX, VERSION, get_profile
from pcilu_cli.cli.context import (busy, notice, print_json, print_json_streamed,
                                   set_json_mode, warn)
from pcilu_cli.errors import BadInput, UsageError

def _profile_choice():
    from pcilu_cli.cli.profile_param import PROFILE
    return PROFILE


def read_input(path: str) -> bytes:
    from pcilu_cli.state.store import read_input as _read
    return _read(path)


# ---- rendering -------------------------------------------------------------------------------

def _free_runs(max_nr: int, used_slots: list[int]):
    """Yield (first, last) runs of free slots between/around the used ones."""
    prev = -1
    for s in used_slots + [max_nr]:
        if s - prev > 1:
            yield prev + 1, s - 1
        prev = s


def render_pci_ser(ser: pci.PciSer, file: str) -> None:
    """One line per in-use slot and per run of free slots, as plain aligned text (linear:
    a 1,000,000-entry blob prints in seconds, where a rich Table took minutes)."""
    from pcilu_cli.cli.context import plain_table
    free_by_start = {}
    if ser.max_nr_devices is not None:
        free_by_start = dict(_free_runs(ser.max_nr_devices, [e[0] for e in ser.entries]))
    starts = sorted(free_by_start)
    rows, k = [], 0

    def free_row(a):
        n = free_by_start[a] - a + 1
        label = f"{a}" if n == 1 else f"{a}-{free_by_start[a]}"
        rows.append((label, f"free ({n} slot{'s' if n > 1 else ''})", "0", ""))
    for slot, dom, bdf, ref in ser.entries:
        while k < len(starts) and starts[k] < slot:
            free_row(starts[k])
            k += 1
        off = f"{pci.entry_offset(slot):#x}" if ser.layout == FLEX else ""
        rows.append((str(slot), format_dev_id(dom, bdf), str(ref), off))
    for a in starts[k:]:
        free_row(a)
    lines = [f"{file}: {ser.file_size} bytes, struct pci_ser [{ser.profile.name}: compatible "
             f"{ser.compatible!r}, {ser.layout} layout]"]
    lines += plain_table(("slot", "BDF", "refcount", "offset"), rows, right=(0, 2, 3))
    facts = [f"nr_devices {ser.nr_devices}"]
    if ser.max_nr_devices is not None:
        facts.append(f"max_nr_devices {ser.max_nr_devices}")
        facts.append(f"free slots {ser.max_nr_devices - len(ser.entries)}")
    if ser.version is not None:
        facts.append(f"version {ser.version}")
    if ser.devices_pa is not None:
        facts.append(f"devices at PA {ser.devices_pa:#x} (kho_block chain: inspect a state "
                     "file or memory image to follow it)")
    lines.append(", ".join(facts))
    click.echo("\n".join(lines))


def hexdump_fields(data: bytes, ser: pci.PciSer | None = None, *, fields=None) -> str:
    """An annotated hexdump: every field labelled at its offset."""
    lines = []
    if fields is None:
        from pcilu_cli.abi.describe import pci_ser_fields
        fields = list(pci_ser_fields(ser))
    covered = 0
    for off, size, label in fields:
        if off > covered:
            lines.append(_hexline(covered, data[covered:off], "(unlabelled)"))
        lines.append(_hexline(off, data[off:off + size], label))
        covered = off + size
    if covered < len(data):
        rest = data[covered:]
        if any(rest):
            for o in range(0, len(rest), 16):
                lines.append(_hexline(covered + o, rest[o:o + 16], "(trailing)"))
        else:
            lines.append(f"{covered:08x}  ... {len(rest)} zero bytes to {len(data):#x}")
    return "\n".join(lines)


def _hexline(off: int, chunk: bytes, label: str) -> str:
    shown = chunk[:8].hex(" ") + (" …" if len(chunk) > 8 else "")
    return f"{off:08x}  {shown:<25}  {label}"


def _show_flb_page(doc: dict, name: str, as_json: bool) -> None:
    if as_json:
        print_json(doc)
        return
    from pcilu_cli.cli.context import console
    con = console()
    con.print(f"[bold]{name}[/bold]: LUO FLB page (pgcnt {doc['pgcnt']}, "
              f"{doc['count']} FLB{'s' if doc['count'] != 1 else ''})")
    for r in doc["flbs"]:
        con.print(f"  [{r['index']}] {r['name']!r}: data {r['data']:#x}, "
                  f"count {r['count']}")


def _show_kexec_metadata(data: bytes, name: str, as_json: bool, as_hex: bool) -> None:
    from pcilu_cli.abi.kho import kexec_metadata_to_json, kho_kexec_metadata
    doc = kexec_metadata_to_json(data, file=name)
    if as_json:
        print_json(doc)
    elif as_hex:
        from pcilu_cli.abi.codec import fields
        click.echo(hexdump_fields(data, fields=[(o, n, f"{p} = {doc[p]!r}")
                                                for p, o, n in fields(kho_kexec_metadata)]))
    else:
        click.echo(f"{name}: struct kho_kexec_metadata (KHO kexec-metadata, {doc['size']} "
                   f"bytes): version {doc['version']}, previous release "
                   f"{doc['previous_release']!r}, kexec count {doc['kexec_count']}")


# ---- commands --------------------------------------------------------------------------------

@click.command()
@click.argument("file")
@click.option("-p", "--profile", type=_profile_choice(), default=None,
              help="Kernel profile whose layout to decode with (default: detect; v6 = pci-v3).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--hex", "as_hex", is_flag=True, help="Annotated hexdump, each field at its offset.")
def inspect(file, profile, as_json, as_hex):
    """Decode a hand-over blob for a person, or for a script with --json.

    FILE is a raw `struct pci_ser` blob, a LUO FLB page, a KHO root FDT, a pcilu state file or
    an ELF memory dump (QEMU dump-guest-memory, kdump vmcore); `-` reads stdin.

    \b
    Examples:
      pcilu inspect flb/pci-v3.bin --profile v6
      pcilu inspect blob.bin --json | jq '.devices[].bdf'
      pcilu inspect blob.bin --hex
      pcilu inspect gen1.elf     # the whole KHO -> LUO -> FLB -> pci_ser chain
    """
    set_json_mode(as_json)
    from pcilu_cli.api.decoder import examine
    data = read_input(file)
    if file != "-" and data[:2] == GZIP_MAGIC:          # a capture is a gzip'd tar
        from pcilu_cli.fabric.capture import is_capture
        if is_capture(file):
            from pcilu_cli.cli.cmd_capture import inspect_capture
            return inspect_capture(file, as_json)
    name = "<stdin>" if file == "-" else file
    with busy(f"decoding {len(data) // 8} entries", size=len(data) // 8, threshold=200000):
        ex = examine(data, name, profile=profile, stream=as_json, fdt_tree=True)
    if ex.notice:
        notice(ex.notice)
    for d in ex.warnings:
        warn(d)
    doc = ex.doc
    if ex.kind == "fdt":                 # a plain device tree, written node by node
        if as_json:
            from pcilu_cli.api.decoder import write_fdt_document
            print_json_streamed(lambda write, dumps: write_fdt_document(ex.tree, write, dumps))
        else:
            from pcilu_cli.cli import cmd_image
            cmd_image.render_plain_fdt(ex.tree, name)
    elif as_json and doc is None:        # a flex blob: its entries formatted as they are read
        print_json_streamed(lambda write, dumps: pci.write_json(ex.ser, write, dumps))
    elif as_json:
        print_json(doc)
    elif ex.kind == "image":
        from pcilu_cli.cli import cmd_image
        cmd_image.render(doc, name)
    elif ex.kind == "kho_kexec_metadata":
        _show_kexec_metadata(data, name, False, as_hex)
    elif ex.kind == "pci_ser_u64":
        click.echo(f"{name}: struct pci_ser, {doc['posting']}: max_nr_devices "
                   f"{doc['max_nr_devices']}, nr_devices {doc['nr_devices']}")
        for d in doc["devices"]:
            click.echo(f"  [{d['slot']}] {d['bdf']}")
    elif ex.kind == "luo_flb_page":
        _show_flb_page(doc, name, False)
    elif as_hex:
        click.echo(hexdump_fields(data, ex.ser))
    else:
        render_pci_ser(ex.ser, name)


@click.command()
@click.argument("spec")
@click.option("-o", "--output", metavar="BLOB", required=True, help="Blob to write (`-` = stdout).")
@click.option("-p", "--profile", type=_profile_choice(), default=None,
              help="Layout to encode (default: the spec's \"profile\", else v6).")
@click.option("--size", type=click.IntRange(0, 1 << 31), default=None,
              help="Pad the blob with zeros to this many bytes (e.g. 4096, the KHO folio).")
@click.option("--folio", is_flag=True,
              help="Pad to the folio kho_alloc_preserve() would allocate (power-of-two pages).")
def encode(spec, output, profile, size, folio):
    """Build a raw `struct pci_ser` blob from a JSON list of entries.

    SPEC is the document `pcilu inspect --json` prints (so inspect -> encode round-trips), or
    any JSON object with "devices": [{"slot", "domain", "bus", "device", "function",
    "refcount"}] (or "bdf": "DDDD:BB:DD.F" instead of the numbers) and optionally
    "max_nr_devices", "nr_devices", "profile", "devices_pa", "version". Slots not listed are
    free (zero), as the kernel leaves them.

    \b
    Example:
      echo '{"max_nr_devices": 6, "devices": [
              {"slot": 0, "bdf": "0000:01:00.0", "refcount": 1},
              {"slot": 1, "bdf": "0000:00:02.0", "refcount": 1}]}' |
        pcilu encode - -o blob.bin --folio
    """
    raw = read_input(spec)
    name = "<stdin>" if spec == "-" else spec
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        from pcilu_cli.abi.formats import identify
        ident = identify(bytes(raw[:4096]), name)
        if ident.kind != "text":
            raise BadInput(f"this is {ident.describe()}, not an encode spec (JSON entries, "
                           "e.g. `pcilu inspect BLOB --json`)", file=name) from None
        line = getattr(e, "lineno", None)
        raise BadInput(f"not valid JSON: {e}", file=name, line=line) from None
    except RecursionError:
        raise BadInput("JSON nests too deeply", file=name) from None
    if isinstance(doc, list):
        doc = {"devices": doc}
    if not isinstance(doc, dict):
        raise BadInput("expected a JSON object or list", file=name)
    if profile is None and doc.get("profile") is not None:
        try:
            prof = get_profile(str(doc["profile"]))
        except UsageError as e:
            raise BadInput(e.message, file=name, field="profile") from None
    else:
        prof = get_profile(profile or "v6")
    entries = pci.entries_from_json(doc, file=name)

    def opt_int(key, hi):
        v = doc.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= hi:
            raise BadInput(f"{key} must be an integer in 0..{hi:#x}, not {v!r}", file=name,
                           field=key)
        return v
    max_nr = opt_int("max_nr_devices", pci.MAX_ENCODE_SLOTS)
    blob = pci.encode_pci_ser(prof, entries, max_nr_devices=max_nr,
                              nr_devices=opt_int("nr_devices", 2**32 - 1),
                              devices_pa=opt_int("devices_pa", 2**64 - 1) or 0,
                              version=opt_int("version", 2**32 - 1), size=size)
    if folio:
        blob += bytes(_folio_size(len(blob)) - len(blob))
    if prof.pci_layout in (BLOCK, VERSION) and entries:
        notice(f"profile {prof.name} keeps entries in kho_block pages; only the "
               f"{len(blob)}-byte header was written")
    from pcilu_cli.state.store import atomic_write
    atomic_write(output, blob)
    if output != "-":
        n = len(entries)
        notice(f"wrote {output}: {len(blob)} bytes, {n} entr{'y' if n == 1 else 'ies'} "
               f"({prof.name})")


__all__ = ["inspect", "encode", "UsageError"]
