# SPDX-License-Identifier: GPL-2.0-only
"""The fuzz targets: which decoder, reached through which pcilu command, seeded with what.

Shared by the bounded hypothesis suite (``tests/test_fuzz_decoders.py``), the atheris harnesses
(``fuzz/fuzz_*.py``) and the corpus generator (``fuzz/make_corpus.py``), so that a decoder is
added to all three with ONE ``register(...)`` line at the bottom of this file.

A target is a pcilu command line with ``{file}`` where the mutated input goes, plus a seed
function that builds valid inputs with the project's own encoders (or finds shipped fixtures)
and names their integer fields (``(offset, width)``) so that the mutation engine can overwrite
them with 0, 1, max and huge values. A seed function that cannot run yet (its encoder has not
landed) raises :class:`Unavailable`; the tests fail on that target with the reason.

The contract checked for every input (``check_outcome``): the exit code is one the command
documents (default {0, 3}); no traceback and no "internal error"; on failure exactly one
``pcilu: error:`` line on stderr, and every stderr line is one ``pcilu:`` message; in ``--json``
mode stdout is exactly one JSON document, also on failure.
"""
from __future__ import annotations

import glob
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
CORPUS = FIXTURES / "fuzz-corpus"


class Unavailable(Exception):
    """The decoder or its seed encoder is not there yet."""


@dataclass
class Seed:
    label: str
    data: bytes
    fields: list = field(default_factory=list)   # [(offset, width)] integer fields, LE


@dataclass
class Target:
    name: str
    argv: tuple                      # pcilu arguments; "{file}" is replaced by the input path
    seeds: Callable[[], list]        # -> [Seed]; may raise Unavailable
    ok_codes: frozenset = frozenset({0, 3})
    text: bool = False               # line-oriented input (YAML, lspci dump): add line mutations
    suffix: str = ".bin"
    seeds_valid: bool = True         # every seed must itself be accepted (exit 0)
    call: Callable | None = None     # direct decoder call(data, path) instead of a command line
    beside: str | None = None        # write the input as fixtures/<beside>/ would hold it, so
                                     # that relative paths in it (../fabrics/...) resolve

    @property
    def json_mode(self) -> bool:
        return self.call is None and "--json" in self.argv

    def command(self, path: str) -> list:
        return [a.replace("{file}", path) for a in self.argv]


TARGETS: dict[str, Target] = {}


def register(name, argv, seeds, **kw) -> Target:
    t = Target(name, tuple(argv), seeds, **kw)
    TARGETS[name] = t
    return t


# ---- running the CLI in-process ----------------------------------------------------------------

@dataclass
class Outcome:
    code: int
    stdout: bytes
    stderr: bytes


def run_cli(argv: list) -> Outcome:
    """``pcilu ARGV`` in this process (click's CliRunner isolation), exit code captured."""
    from click.testing import CliRunner

    from pcilu_cli.cli import main
    runner = CliRunner()
    code = None
    with runner.isolation() as streams:
        try:
            main(list(argv))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = streams[0].getvalue(), streams[1].getvalue()
    return Outcome(0 if code is None else code, out, err)


def check_outcome(target: Target, res: Outcome, what: str = "") -> None:
    """Raise AssertionError (with a reproducible description) if the contract is broken."""
    err = res.stderr.decode("utf-8", "replace")
    out = res.stdout.decode("utf-8", "replace")
    ctx = f"{target.name}{' ' + what if what else ''}: exit {res.code}; stderr={err[-600:]!r}"
    assert "Traceback" not in err and "Traceback" not in out, ctx
    assert "internal error" not in err, ctx
    assert res.code in target.ok_codes, ctx
    lines = [ln for ln in err.splitlines() if ln.strip()]
    for ln in lines:
        assert ln.startswith("pcilu:"), f"{ctx} (stderr line that is not a pcilu message)"
    errors = [ln for ln in lines if ln.startswith("pcilu: error:")]
    if res.code != 0:
        assert len(errors) == 1, f"{ctx} (want exactly one error line)"
    else:
        assert not errors, ctx
    if target.json_mode:
        try:
            doc = json.loads(out)
        except ValueError:
            raise AssertionError(f"{ctx} (stdout is not one JSON document: {out[:200]!r})") \
                from None
        assert isinstance(doc, dict) and "kind" in doc, f"{ctx} (JSON without 'kind')"
        if res.code == 6:
            # exit 6 = an expectation failed: the rehearsal document itself is the answer
            assert doc["kind"] in ("error", "rehearsal", "rehearsals"), ctx
        elif res.code != 0:
            assert doc["kind"] == "error", ctx


def run_call(target: Target, data: bytes, path: str, what: str = "") -> Outcome:
    """A direct decoder call: only pcilu_cli.errors.PcIluError may come out of it."""
    from pcilu_cli.errors import PcIluError
    try:
        target.call(data, path)
    except PcIluError as e:
        msg = e.one_line()
        return Outcome(e.exit_code, b"", f"pcilu: error: {msg}\n".encode())
    except Exception as e:  # noqa: BLE001 - that is exactly what a fuzz target reports
        import traceback
        tb = "".join(traceback.format_exception(e)[-6:])
        raise AssertionError(f"{target.name} {what}: {type(e).__name__} escaped the decoder "
                             f"(only PcIluError may):\n{tb}") from None
    return Outcome(0, b"", b"")


def run_input(target: Target, data: bytes, workdir: str, what: str = "") -> Outcome:
    if target.beside:
        sub = os.path.join(workdir, target.beside)
        os.makedirs(sub, exist_ok=True)
        for sibling in os.listdir(FIXTURES):
            link = os.path.join(workdir, sibling)
            if sibling != target.beside and not os.path.lexists(link):
                os.symlink(FIXTURES / sibling, link)
        workdir = sub
    path = os.path.join(workdir, f"input{target.suffix}")
    with open(path, "wb") as f:
        f.write(data)
    if target.call is not None:
        res = run_call(target, data, path, what)
    else:
        res = run_cli(target.command(path))
    check_outcome(target, res, what)
    return res


# ---- field maps from the Construct layouts ------------------------------------------------------

def struct_fields(layout, base: int = 0) -> list:
    """[(offset, width)] of the fixed-size integer fields of a Construct Struct."""
    out, off = [], base
    for sc in layout.subcons:
        size = sc.sizeof()
        if size in (1, 2, 4, 8):
            out.append((off, size))
        off += size
    return out


# ---- seeds -------------------------------------------------------------------------------------

# Entries that exercise every field: multi-domain, path refcounts, a free slot in between.
PCI_ENTRIES = [(0, 0, 0x0100, 1), (1, 0, 0x0010, 2), (3, 0x10000, 0xFEFF, 1), (4, 1, 0x0008, 1)]


def pci_ser_seeds(profile: str) -> Callable[[], list]:
    def seeds():
        try:
            from pcilu_cli.abi import pci
            from pcilu_cli.abi.profiles import FLEX, get_profile
        except ImportError as e:
            raise Unavailable(f"pcilu_cli.abi.pci: {e}") from None
        p = get_profile(profile)
        hdr = pci.header_layout(p)
        fields = struct_fields(hdr)
        out = []
        if p.pci_layout == FLEX:
            entries = [e if p.refcount != "padding" else (*e[:3], 0) for e in PCI_ENTRIES]
            if p.refcount == "in-use":
                entries = [(*e[:3], 1) for e in entries]
            blob = pci.encode_pci_ser(p, entries, max_nr_devices=6)
            ent = pci.entry_layout(p)
            efields = [f for i in range(6) for f in struct_fields(ent, hdr.sizeof() + 8 * i)]
            out.append(Seed(f"{p.name}-flex6", blob, fields + efields))
            out.append(Seed(f"{p.name}-empty", pci.encode_pci_ser(p, [], max_nr_devices=3),
                            fields))
            out.append(Seed(f"{p.name}-folio", pci.encode_pci_ser(p, entries, size=4096),
                            fields + efields[:12]))
        else:
            out.append(Seed(f"{p.name}-header",
                            pci.encode_pci_ser(p, [], nr_devices=2, devices_pa=0x10_0000_0000),
                            fields))
        return out
    return seeds


def flb_page_seeds() -> list:
    try:
        from pcilu_cli.abi.luo import luo_flb_header_ser, luo_flb_ser
    except ImportError as e:
        raise Unavailable(str(e)) from None
    out = []
    for names in (["pci-v3"], ["pci-v2", "memfd-flb-v1", "pci"]):
        page = bytearray(4096)
        luo_flb_header_ser.build_stream(dict(pgcnt=1, count=len(names)), _Writer(page, 0))
        fields = struct_fields(luo_flb_header_ser)
        for i, n in enumerate(names):
            off = 16 + 64 * i
            page[off:off + 64] = luo_flb_ser.build(dict(name=n, data=0x1_0000_0000 + 0x1000 * i,
                                                        count=i + 1))
            fields += [(off + 48, 8), (off + 56, 8)]
        out.append(Seed(f"flb-{len(names)}", bytes(page), fields))
    return out


class _Writer:
    """A tiny writable stream into a bytearray (Construct's build_stream target)."""

    def __init__(self, buf: bytearray, off: int):
        self.buf, self.off = buf, off

    def write(self, b):
        self.buf[self.off:self.off + len(b)] = b
        self.off += len(b)
        return len(b)

    def tell(self):
        return self.off

    def seek(self, off, whence=0):
        self.off = off if whence == 0 else self.off + off
        return self.off


def encode_spec_seeds() -> list:
    """`pcilu encode` specs: the --json documents `inspect` prints for the pci_ser seeds."""
    try:
        from pcilu_cli.abi import pci
    except ImportError as e:
        raise Unavailable(str(e)) from None
    out = []
    for prof in ("v6", "v6-p02", "v8"):
        for s in pci_ser_seeds(prof)()[:1]:
            doc = pci.pci_ser_to_json(pci.decode_pci_ser(s.data, prof))
            text = json.dumps(doc, indent=1).encode()
            out.append(Seed(f"{s.label}.json", text, _number_fields(text)))
    return out


def _number_fields(text: bytes) -> list:
    from mutations import number_fields  # noqa: PLC0415 - beside this module in fuzz/
    return number_fields(text)


NOT_SEEDS = {"SHA256SUMS", "SOURCES.md", "README.md"}


def fixture_seeds(*patterns: str, fields=None) -> Callable[[], list]:
    """Seeds from shipped fixture files (for inputs whose encoder is a person: YAML, dumps).
    ``fields``: the integer fields of binary files; text files (no NUL byte) get their number
    tokens as fields instead."""
    def seeds():
        files = sorted({f for p in patterns for f in glob.glob(str(FIXTURES / p), recursive=True)
                        if Path(f).is_file() and Path(f).name not in NOT_SEEDS})
        if not files:
            raise Unavailable(f"no fixtures match {', '.join(patterns)} yet")
        out = []
        for f in files[:6]:
            data = Path(f).read_bytes()
            found = list(fields) if fields is not None else (
                [] if b"\0" in data else _number_fields(data))
            out.append(Seed(Path(f).name, data, found))
        return out
    return seeds


def state_file_seeds() -> list:
    """A generation-0 state file made by `pcilu init` from a shipped fabric, and a kexec'd one."""
    fabrics = sorted(glob.glob(str(FIXTURES / "fabrics" / "*.yaml")))
    if not fabrics:
        raise Unavailable("no fixtures/fabrics/*.yaml yet")
    import tempfile
    out = []
    with tempfile.TemporaryDirectory() as d:
        for fab in fabrics[:2]:
            s = os.path.join(d, Path(fab).stem + ".elf")
            r = run_cli(["init", fab, "-o", s])
            if r.code != 0:
                raise Unavailable(f"`pcilu init {Path(fab).name}` does not work yet: "
                                  f"{r.stderr.decode(errors='replace').strip()[:200]}")
            out.append(Seed(Path(s).name, Path(s).read_bytes(), elf_fields(Path(s).read_bytes())))
    return out


def elf_fields(data: bytes) -> list:
    """ELF64 header and program-header integer fields (counts, offsets, sizes)."""
    if len(data) < 64 or data[:4] != b"\x7fELF":
        return []
    fields = [(16, 2), (18, 2), (20, 4), (24, 8), (32, 8), (40, 8), (48, 4), (52, 2), (54, 2),
              (56, 2), (58, 2), (60, 2), (62, 2)]
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    for i in range(min(phnum, 16)):
        b = phoff + 56 * i
        fields += [(b, 4), (b + 4, 4), (b + 8, 8), (b + 16, 8), (b + 24, 8), (b + 32, 8),
                   (b + 40, 8), (b + 48, 8)]
    return [(o, w) for o, w in fields if o + w <= len(data)]


# ---- direct decoders (memory/, fabric/): bytes -> decoder, before or besides a command --------

MEM_BASE = 0x1_0000_0000      # where a raw page image is mapped for the memory walkers


def _need(modname: str):
    import importlib
    try:
        return importlib.import_module(modname)
    except ImportError as e:
        raise Unavailable(f"{modname}: {e}") from None


def _page_image_mem(data: bytes):
    physmem = _need("pcilu_cli.memory.physmem")
    mem = physmem.PhysMem()
    mem.add_segment(MEM_BASE, data)
    return mem


def _u64_fields(data: bytes) -> list:
    """Non-zero little-endian u64 words: in page images these are the pointers and counts."""
    return [(o, 8) for o in range(0, len(data) - 7, 8) if any(data[o:o + 8])][:64]


def elf_core_seeds() -> list:
    physmem = _need("pcilu_cli.memory.physmem")
    elf = _need("pcilu_cli.memory.elfcore")
    mem = physmem.PhysMem()
    mem.write(0x1_0000_0000, b"\x11" * 4096 * 2)
    mem.write(0x1_0000_4000, bytes(range(256)) * 16)
    notes = [(elf.NOTE_NAME, elf.NT_PCILU_METADATA, json.dumps({"format_version": 1}).encode()),
             (elf.NOTE_NAME, elf.NT_PCILU_LOG, b"PCI: liveupdate: hello\n"),
             ("CORE", 1, bytes(336))]
    blob = elf.write_elf_core(mem, notes)
    return [Seed("core-2seg", blob, elf_fields(blob))]


def call_elf_core(data: bytes, path: str) -> None:
    elf = _need("pcilu_cli.memory.elfcore")
    mem, notes = elf.read_elf_core(data, file=path)
    elf.pcilu_notes(notes)
    for pa, size in list(_runs(mem))[:64]:
        mem.read(pa, min(size, 1 << 16), file=path)


def _runs(mem):
    for pa, chunks in mem.runs():
        yield pa, sum(len(c) for c in chunks)


def kho_root_fdt_seeds() -> list:
    fdt = _need("pcilu_cli.memory.fdt")
    kho = _need("pcilu_cli.abi.kho")
    out = []
    for gen in ("A", "C", "D"):
        blob = fdt.build_kho_root_fdt(kho.KHO_FDT_COMPATIBLE[gen], 0x10_0000_0000,
                                      [("LUO", 0x1_0000_2000, 4096),
                                       ("memblock", 0x1_0000_8000, 64)], gen=gen)
        out.append(Seed(f"kho-root-{gen}", blob, [(o, 4) for o in range(0, 40, 4)]))
    return out


def luo_fdt_seeds() -> list:
    fdt = _need("pcilu_cli.memory.fdt")
    return [Seed("luo-fdt-flb", fdt.build_luo_fdt(3, 0x1_0000_3000, 0x1_0000_5000),
                 [(o, 4) for o in range(0, 40, 4)]),
            Seed("luo-fdt", fdt.build_luo_fdt(1, 0x1_0000_3000, None),
                 [(o, 4) for o in range(0, 40, 4)])]


def kho_block_chain_seeds() -> list:
    """Three chained kho_block pages of 8-byte pci_dev_ser entries (510 + 510 + 5)."""
    from pcilu_cli.abi.kho_block import KHO_BLOCK_SIZE, count_per_block, kho_block_header_ser
    cpb = count_per_block(8)
    pages = bytearray()
    for i, count in enumerate((cpb, cpb, 5)):
        nxt = MEM_BASE + KHO_BLOCK_SIZE * (i + 1) if i < 2 else 0
        page = bytearray(KHO_BLOCK_SIZE)
        page[:16] = kho_block_header_ser.build(dict(next=nxt, count=count))
        for k in range(count):
            struct.pack_into("<IHH", page, 16 + 8 * k, i, k & 0xFFFF, 1)
        pages += page
    fields = [(KHO_BLOCK_SIZE * i + o, 8) for i in range(3) for o in (0, 8)]
    return [Seed("pci-dev-chain-3", bytes(pages), fields)]


def call_kho_block_chain(data: bytes, path: str) -> None:
    blocks = _need("pcilu_cli.memory.blocks")
    rs = blocks.kho_block_set_restore(_page_image_mem(data), MEM_BASE, 8, file=path)
    rs.entries()


def radix_tree_seeds() -> list:
    physmem = _need("pcilu_cli.memory.physmem")
    kho = _need("pcilu_cli.memory.kho")
    mem = physmem.PhysMem()
    pages = []

    def get_zeroed_page():
        pa = MEM_BASE + 4096 * len(pages)
        mem.zero(pa, 4096)
        pages.append(pa)
        return pa
    root = get_zeroed_page()
    tree = kho.RadixTracker(mem, root, get_zeroed_page)
    for pa, order in ((0x2_0000_0000, 0), (0x2_0000_1000, 0), (0x2_0010_0000, 4),
                      (0x40_0000_0000, 9)):
        tree.add(pa, order)
    blob = mem.read(MEM_BASE, 4096 * len(pages))
    return [Seed(f"radix-{len(pages)}pages", bytes(blob), _u64_fields(blob))]


def call_radix_tree(data: bytes, path: str) -> None:
    kho = _need("pcilu_cli.memory.kho")
    kho.decode_radix_tree(_page_image_mem(data), MEM_BASE, file=path)


def call_load_fabric(data: bytes, path: str) -> None:
    fabric = _need("pcilu_cli.fabric")
    fabric.load_fabric(path)


# ---- the registry: one line per decoder ---------------------------------------------------------

for _p in ("v6-p01", "v6-p02", "v6", "v7", "v8", "v9"):
    register(f"pci_ser-{_p}", ["inspect", "{file}", "--profile", _p, "--json"],
             pci_ser_seeds(_p))
register("pci_ser-detect", ["inspect", "{file}", "--json"], pci_ser_seeds("v6"))
register("pci_ser-hex", ["inspect", "{file}", "--profile", "v6", "--hex"], pci_ser_seeds("v6"))
register("pci_ser-human", ["inspect", "{file}"], pci_ser_seeds("v6"))
register("flb_page", ["inspect", "{file}", "--json"], flb_page_seeds)
HEAD_U32 = [(o, 4) for o in range(0, 64, 4)]     # headers of raw blobs / FDT header words
register("golden", ["inspect", "{file}", "--json"], fixture_seeds("golden/**/*.bin",
                                                                  fields=HEAD_U32),
         seeds_valid=False)
register("encode_json", ["encode", "{file}", "-o", "-"], encode_spec_seeds, text=True,
         suffix=".json")
register("fabric_yaml", ["fabric", "show", "{file}", "--json"],
         fixture_seeds("fabrics/*.yaml"), text=True, suffix=".yaml")
register("lspci_dump", ["fabric", "show", "{file}", "--json"],
         fixture_seeds("lspci/*", "dumps/**/*.txt"), text=True, suffix=".txt")
register("root_fdt", ["inspect", "{file}", "--json"], fixture_seeds("golden/**/*.dtb",
                                                                    "kho/**/*.dtb",
                                                                    fields=HEAD_U32[:10]))
register("state_inspect", ["inspect", "{file}", "--json"], state_file_seeds, suffix=".elf")
register("state_enumerate", ["enumerate", "{file}", "--json"], state_file_seeds, suffix=".elf")
register("elf_core", [], elf_core_seeds, call=call_elf_core, suffix=".elf")
register("kho_root_fdt", [], kho_root_fdt_seeds,
         call=lambda d, p: _need("pcilu_cli.memory.fdt").read_kho_root_fdt(d, file=p))
register("luo_fdt", [], luo_fdt_seeds,
         call=lambda d, p: _need("pcilu_cli.memory.fdt").read_luo_fdt(d, file=p))
register("kho_block_chain", [], kho_block_chain_seeds, call=call_kho_block_chain)
register("radix_tree", [], radix_tree_seeds, call=call_radix_tree)
register("fabric_load", [], fixture_seeds("fabrics/*.yaml", "lspci/*"),
         call=call_load_fabric, text=True, suffix=".yaml")
register("scenario", ["rehearse", "{file}", "--json"], fixture_seeds("scenarios/*.yaml"),
         ok_codes=frozenset({0, 3, 4, 5, 6}), text=True, suffix=".yaml", beside="scenarios")

# ---- atheris harnesses: which targets each runs, and which targets' seeds form its corpus -----
# (fuzz/fuzz_<name>.py runs HARNESSES[name]; fuzz/make_corpus.py writes fixtures/fuzz-corpus/<name>)
HARNESSES = {
    "inspect": {"run": ["pci_ser-detect"],
                "corpus": ["pci_ser-detect", "pci_ser-v7", "pci_ser-v8", "flb_page", "golden",
                           "root_fdt", "state_inspect"]},
    "pci_ser": {"run": ["pci_ser-v6-p01", "pci_ser-v6-p02", "pci_ser-v6", "pci_ser-v7",
                        "pci_ser-v8", "pci_ser-v9", "pci_ser-hex"],
                "corpus": ["pci_ser-v6-p01", "pci_ser-v6-p02", "pci_ser-v6", "pci_ser-v7",
                           "pci_ser-v8", "pci_ser-v9"]},
    "encode": {"run": ["encode_json"], "corpus": ["encode_json"]},
    "fabric": {"run": ["fabric_yaml"], "corpus": ["fabric_yaml", "lspci_dump"]},
    "state": {"run": ["state_inspect", "state_enumerate"], "corpus": ["state_inspect"]},
    "elf": {"run": ["elf_core"], "corpus": ["elf_core", "state_inspect"]},
    "fdt": {"run": ["kho_root_fdt", "luo_fdt"], "corpus": ["kho_root_fdt", "luo_fdt"]},
    "blocks": {"run": ["kho_block_chain"], "corpus": ["kho_block_chain"]},
    "radix": {"run": ["radix_tree"], "corpus": ["radix_tree"]},
}
