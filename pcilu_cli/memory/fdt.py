# SPDX-License-Identifier: GPL-2.0-only
"""The KHO root FDT and LUO's own FDT (``luo-v1``): writers and a validating reader.

Writers use pylibfdt the way the kernel uses libfdt, so the bytes match:

* ``kho_out_fdt_setup()`` (sequential-write API): root ``compatible`` then
  ``preserved-memory-map`` (8 raw little-endian bytes, not FDT cells);
* ``kho_add_subtree()`` (read-write API): ``fdt_open_into(PAGE_SIZE)``, ``fdt_add_subnode``,
  ``preserved-data`` (gen A: ``fdt``) then ``blob-size`` (gen C+), then ``fdt_pack()``;
* ``luo_fdt_setup()`` (sequential-write API, gen A-C): ``compatible``, ``liveupdate-number``,
  node ``luo-session`` {compatible, luo-session-header}, node ``luo-flb`` {compatible,
  luo-flb-header}.

The reader is pure Python (no libfdt on untrusted bytes): it checks the header like
``fdt_check_header()``, walks the structure block with bounds checks and raises
:class:`FdtError` (a :class:`BadInput` naming offset, node and property, carrying the libfdt
error number the kernel would print).
"""
from __future__ import annotations

from types import MappingProxyType

from pcilu_cli.abi import fdt as fdt_abi
from pcilu_cli.abi import kho as kho_abi
from pcilu_cli.abi import luo as luo_abi
from pcilu_cli.abi.kho import KHO_U64 as _U64
from pcilu_cli.errors import BadInput, KernelRefusal, Value

PAGE_SIZE = kho_abi.PAGE_SIZE
FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FDT_NOP, FDT_END = (
    fdt_abi.FDT_BEGIN_NODE, fdt_abi.FDT_END_NODE, fdt_abi.FDT_PROP, fdt_abi.FDT_NOP,
    fdt_abi.FDT_END)
# libfdt error numbers (returned negated)
FDT_ERR_NOTFOUND, FDT_ERR_EXISTS, FDT_ERR_NOSPACE = 1, 2, 3
FDT_ERR_TRUNCATED, FDT_ERR_BADMAGIC, FDT_ERR_BADVERSION, FDT_ERR_BADSTRUCTURE = 8, 9, 10, 11
FDT_ERR_BADLAYOUT = 12
MAX_DEPTH = 64
_HEADER = fdt_abi.FDT_HEADER
_HEADER_SIZE = fdt_abi.FDT_HEADER_SIZE
_PROPERTY = fdt_abi.FDT_PROPERTY
_TOKEN = fdt_abi.FDT_TOKEN


class FdtError(BadInput):
    """An FDT that libfdt would reject; ``fdt_err`` is the (negative) libfdt error number."""

    def __init__(self, message: str, *, fdt_err: int, file=None, offset=None, field=None):
        self.fdt_err = fdt_err
        super().__init__(message, file=file, offset=offset, field=field)


# ---- writers -------------------------------------------------------------------------------------

def _libfdt():
    """pylibfdt, the kernel's own libfdt: the writers use it so that the bytes are the ones
    the kernel's libfdt lays out. PyPI has no wheels of it (it builds with a C compiler and the
    Python headers), so it is an optional dependency: without it reading still works (the
    reader is pure Python) and writing an FDT (booting a generation, kexec) is refused with
    one line saying what to install (exit 3), never an internal error."""
    try:
        import libfdt
    except ImportError:
        raise BadInput("writing KHO/LUO FDTs needs pylibfdt (the kernel's libfdt, so that the "
                       "bytes match the kernel's): pip install 'pcilu[fdt]' (builds with a C "
                       "compiler and the Python headers: apt install gcc python3-dev)",
                       field="pylibfdt") from None
    return libfdt


def _u64(v: int) -> bytes:
    return _U64.pack(v)


def kho_root_fdt_setup(compatible: str, mem_map_pa: int) -> bytes:
    """kho_out_fdt_setup(): the root before any subtree."""
    libfdt = _libfdt()
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    sw.begin_node("")
    sw.property_string("compatible", compatible)
    sw.property(kho_abi.PROP_PRESERVED_MEMORY_MAP, _u64(mem_map_pa))
    sw.end_node()
    return bytes(sw.as_fdt().as_bytearray())


def kho_add_subtree(root: bytes, name: str, pa: int, size: int | None, *, gen: str) -> bytes:
    """kho_add_subtree(): a child ``name`` with the blob's PA (and size, gen C+); packed.

    ``-EEXIST`` if the name exists; ``-ENOMEM`` if the root no longer fits in one page.
    """
    libfdt = _libfdt()
    fdt = libfdt.Fdt(bytearray(root))
    try:
        fdt.resize(PAGE_SIZE)
        try:
            off = fdt.add_subnode(0, name)
        except libfdt.FdtException as e:
            if e.err == -libfdt.EXISTS:
                raise KernelRefusal("EEXIST", f"KHO subtree {name!r} already exists") from None
            raise
        fdt.setprop(off, kho_abi.sub_tree_prop(gen), _u64(pa))
        if kho_abi.has_blob_size(gen):
            fdt.setprop(off, kho_abi.PROP_SUB_TREE_SIZE, _u64(size or 0))
    except libfdt.FdtException as e:
        raise KernelRefusal("ENOMEM", f"KHO root FDT is full adding {name!r} ({e})") from None
    fdt.pack()
    return bytes(fdt.as_bytearray())


def build_kho_root_fdt(compatible: str, mem_map_pa: int, subtrees, *, gen: str) -> bytes:
    """The whole root FDT: setup, then one kho_add_subtree() per ``(name, pa, size)``."""
    blob = kho_root_fdt_setup(compatible, mem_map_pa)
    for name, pa, size in subtrees:
        blob = kho_add_subtree(blob, name, pa, size, gen=gen)
    return blob


def build_luo_fdt(liveupdate_num: int, session_header_pa: int, flb_header_pa: int | None
                  ) -> bytes:
    """luo_fdt_setup() of gen A-C (``luo-v1``); ``flb_header_pa=None`` omits ``luo-flb``."""
    libfdt = _libfdt()
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    sw.begin_node("")
    sw.property_string("compatible", luo_abi.LUO_FDT_COMPATIBLE)
    sw.property(luo_abi.LUO_FDT_LIVEUPDATE_NUM, _u64(liveupdate_num))
    sw.begin_node(luo_abi.LUO_FDT_SESSION_NODE_NAME)
    sw.property_string("compatible", luo_abi.LUO_FDT_SESSION_COMPATIBLE)
    sw.property(luo_abi.LUO_FDT_SESSION_HEADER, _u64(session_header_pa))
    sw.end_node()
    if flb_header_pa is not None:
        sw.begin_node(luo_abi.LUO_FDT_FLB_NODE_NAME)
        sw.property_string("compatible", luo_abi.LUO_FDT_FLB_COMPATIBLE)
        sw.property(luo_abi.LUO_FDT_FLB_HEADER, _u64(flb_header_pa))
        sw.end_node()
    sw.end_node()
    blob = bytes(sw.as_fdt().as_bytearray())
    if len(blob) > luo_abi.LUO_FDT_SIZE:
        raise KernelRefusal("ENOMEM", "LUO FDT does not fit in LUO_FDT_SIZE")
    return blob


# ---- reader ----------------------------------------------------------------------------------------

_NO_PROPS = MappingProxyType({})     # the props of a node that has none (shared, read-only)
_NO_KIDS = MappingProxyType({})


class FdtNode:
    """One node of a parsed tree: ``props`` maps a property name to (value bytes, offset of
    the value in the blob); children are kept by name, in blob order.

    Light on purpose: a crafted FDT spends about 12 bytes of file per empty node, so a node
    holds no container it does not need (a shared empty one until the parser adds to it), no
    path string (it is computed from the parents when a message needs it) and no second
    list of its children (the by-name dict keeps their order). The name dict also keeps the
    parser's duplicate-name check O(1) per node. (A plain class, not a dataclass: every state
    load imports this module, and a dataclass's methods are generated at import.)"""
    __slots__ = ("name", "parent", "props", "_kids")

    def __init__(self, name: str, parent: "FdtNode | None" = None):
        self.name = name
        self.parent = parent
        self.props = _NO_PROPS
        self._kids = _NO_KIDS

    @property
    def path(self) -> str:
        names = []
        node = self
        while node.parent is not None:
            names.append(node.name)
            node = node.parent
        return "/" + "/".join(reversed(names))

    @property
    def children(self) -> list:
        return list(self._kids.values())

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.name, self.props, self.children) == \
            (other.name, other.props, other.children)

    __hash__ = None

    def child(self, name: str):
        return self._kids.get(name)

    def __repr__(self) -> str:
        return f"FdtNode({self.path!r}, {len(self.props)} props, {len(self._kids)} children)"

    def compatible(self) -> list[str]:
        v = self.props.get("compatible")
        if v is None:
            return []
        raw = v[0][:-1] if v[0].endswith(b"\0") else v[0]   # the string list's last NUL
        return [s.decode("latin-1") for s in raw.split(b"\0")]


def fdt_check_header(data: bytes) -> int:
    """0 or the negative libfdt error ``fdt_check_header()`` would return."""
    if len(data) < _HEADER_SIZE:
        return -FDT_ERR_TRUNCATED
    (magic, total, off_struct, off_strings, off_rsv, version, last_comp, _cpu, size_strings,
     size_struct) = _HEADER.unpack_from(data, 0)
    if magic != kho_abi.FDT_MAGIC:
        return -FDT_ERR_BADMAGIC
    if version < 17 or last_comp > 17:
        return -FDT_ERR_BADVERSION
    if total > len(data) or total < _HEADER_SIZE:
        return -FDT_ERR_TRUNCATED
    hdr = _HEADER_SIZE
    if not (hdr <= off_rsv <= total and hdr <= off_struct <= total
            and off_struct + size_struct <= total and hdr <= off_strings <= total
            and off_strings + size_strings <= total):
        return -FDT_ERR_TRUNCATED
    if off_rsv % 8 or off_struct % 4:
        return -FDT_ERR_BADLAYOUT
    return 0


def fdt_totalsize(header: bytes) -> int:
    """``fdt_totalsize()``: the big-endian ``totalsize`` word of an FDT header (0 when the
    header is cut short)."""
    off = fdt_abi.FDT_TOTALSIZE_OFFSET
    return int.from_bytes(header[off:off + 4], "big") if len(header) >= off + 4 else 0


def fdt_at(mem, pa: int, *, limit: int | None = None) -> bytes:
    """The FDT blob at ``pa`` of a memory (anything with ``read(pa, n)``), as long as its
    header's ``totalsize`` says, capped at ``limit`` bytes."""
    size = fdt_totalsize(mem.read(pa, 8))
    return mem.read(pa, size if limit is None else min(size, limit))


def parse_fdt(data: bytes, *, file=None, what: str = "FDT") -> FdtNode:
    """Parse and validate a flattened device tree; returns the root node."""
    data = bytes(data)
    err = fdt_check_header(data)
    if err:
        names = {-FDT_ERR_TRUNCATED: "truncated or inconsistent header",
                 -FDT_ERR_BADMAGIC: "bad magic (not an FDT)",
                 -FDT_ERR_BADVERSION: "unsupported FDT version",
                 -FDT_ERR_BADLAYOUT: "misaligned blocks"}
        raise FdtError(f"{what}: {names.get(err, 'bad header')} (libfdt {err})", fdt_err=err,
                       file=file, offset=0, field="fdt_header")
    (_m, total, off_struct, off_strings, _rsv, _v, _lc, _c, size_strings,
     size_struct) = _HEADER.unpack_from(data, 0)
    if total > fdt_abi.MAX_FDT_SIZE:
        # pcilu's limit, not libfdt's (hence BadInput, not FdtError): see abi.fdt.MAX_FDT_SIZE
        raise BadInput(f"{what}: totalsize {total:,} bytes is over the {fdt_abi.MAX_FDT_SIZE:,}"
                       "-byte limit of a device tree (arm64's MAX_FDT_SIZE; the hand-over's "
                       "FDTs are one page)", file=file, offset=fdt_abi.FDT_TOTALSIZE_OFFSET,
                       field="fdt_header.totalsize")
    strings = data[off_strings:off_strings + size_strings]
    end = off_struct + size_struct
    pos = off_struct

    def bad(msg, at, fld):
        raise FdtError(f"{what}: {msg}", fdt_err=-FDT_ERR_BADSTRUCTURE, file=file, offset=at,
                       field=fld)

    def token():
        nonlocal pos
        if pos + 4 > end:
            bad("structure block ends without FDT_END", pos, "structure")
        t = _TOKEN.unpack_from(data, pos)[0]
        pos += 4
        return t

    stack: list[FdtNode] = []
    root = None
    while True:
        at = pos
        t = token()
        if t == FDT_NOP:
            continue
        if t == FDT_BEGIN_NODE:
            nul = data.find(b"\0", pos, end)
            if nul < 0:
                bad("unterminated node name", pos, "structure")
            name = data[pos:nul].decode("latin-1")
            pos = (nul + 4) & ~3
            if len(stack) >= MAX_DEPTH:
                bad(f"nesting deeper than {MAX_DEPTH}", at, name)
            if root is None and stack == [] and name != "":
                bad(f"root node has name {name!r}", at, "/")
            if root is not None and not stack:
                bad("more than one root node", at, name)
            parent = stack[-1] if stack else None
            node = FdtNode(name, parent)
            if parent is not None:
                kids = parent._kids
                if kids is _NO_KIDS:
                    kids = parent._kids = {}
                elif name in kids:
                    bad(f"duplicate node {node.path}", at, node.path)
                kids[name] = node
            else:
                root = node
            stack.append(node)
        elif t == FDT_END_NODE:
            if not stack:
                bad("FDT_END_NODE without a node", at, "structure")
            stack.pop()
        elif t == FDT_PROP:
            if not stack:
                bad("property outside any node", at, "structure")
            if pos + 8 > end:
                bad("truncated property header", pos, stack[-1].path)
            _tag, ln, nameoff = _PROPERTY.unpack_from(data, at)
            pos = at + _PROPERTY.size
            if pos + ln > end:
                bad(f"property value of {ln} bytes runs past the structure block", pos,
                    stack[-1].path)
            if nameoff >= len(strings) or strings.find(b"\0", nameoff) < 0:
                bad(f"property name offset {nameoff} outside the strings block", at,
                    stack[-1].path)
            pname = strings[nameoff:strings.index(b"\0", nameoff)].decode("latin-1")
            node = stack[-1]
            if node.props is _NO_PROPS:
                node.props = {}
            elif pname in node.props:
                bad(f"duplicate property {pname!r}", at, f"{node.path}:{pname}")
            node.props[pname] = (data[pos:pos + ln], pos)
            pos = (pos + ln + 3) & ~3
        elif t == FDT_END:
            if stack or root is None:
                bad("FDT_END inside a node or before the root", at, "structure")
            return root
        else:
            bad(f"unknown token {t:#x}", at, "structure")


def prop_u64(node: FdtNode, name: str, *, file=None, what: str = "FDT") -> int:
    """A property that must be exactly 8 raw little-endian bytes (the kernel's check)."""
    v = node.props.get(name)
    fld = f"{node.path}:{name}" if node.path != "/" else f"/{name}"
    if v is None:
        raise BadInput(f"{what}: property {name!r} missing in {node.path}", file=file, field=fld)
    if len(v[0]) != 8:
        raise BadInput(f"{what}: property {name!r} of {node.path} is {len(v[0])} bytes, "
                       "must be exactly 8", file=file, offset=v[1], field=fld)
    return _U64.unpack(v[0])[0]


def check_compatible(node: FdtNode, want: str, *, file=None, what: str = "FDT") -> None:
    """fdt_node_check_compatible(): ``want`` must be one entry of the string list, exactly."""
    if want not in node.compatible():
        have = node.props.get("compatible")
        raise BadInput(f"{what}: node {node.path} compatible {node.compatible()!r} does not "
                       f"contain {want!r}", file=file, offset=have[1] if have else None,
                       field=f"{node.path}:compatible")


class KhoRootFdt(Value):
    """A validated KHO root FDT."""

    FIELDS = ("compatible", "mem_map", "subtrees", "size", "gen", "posting")

    def __init__(self, compatible: list, mem_map: int, subtrees: list, size: int, gen: str,
                 posting: str | None = None):
        self.compatible = compatible
        self.mem_map = mem_map
        self.subtrees = subtrees      # [(name, pa, size or None)] in node order
        self.size = size
        self.gen = gen                # KHO generation A..D (given, or detected)
        self.posting = posting        # a layout outside the A..D table (kho-v2 with blob-size)



def read_kho_root_fdt(data: bytes, *, gen: str | None = None, file=None,
                      root: FdtNode | None = None) -> KhoRootFdt:
    """Validate a KHO root FDT. ``gen`` (A..D) fixes the expected compatible and property names;
    ``None`` detects the generation from the compatible. ``root``: the tree of ``data`` when
    the caller has already parsed it (a tree is not built twice)."""
    if root is None:
        root = parse_fdt(data, file=file, what="KHO root FDT")
    compat = root.compatible()
    if gen is None:
        gen = next((kho_abi.GEN_OF_KHO_COMPATIBLE[c] for c in compat
                    if c in kho_abi.GEN_OF_KHO_COMPATIBLE), None)
        if gen is None:
            raise BadInput(f"KHO root FDT: unknown compatible {compat!r}", file=file,
                           field="/compatible")
    check_compatible(root, kho_abi.KHO_FDT_COMPATIBLE[gen], file=file, what="KHO root FDT")
    mem_map = prop_u64(root, kho_abi.PROP_PRESERVED_MEMORY_MAP, file=file, what="KHO root FDT")
    subs = []
    posting = None
    for child in root.children:
        pa = prop_u64(child, kho_abi.sub_tree_prop(gen), file=file, what="KHO root FDT")
        if kho_abi.has_blob_size(gen):
            size = prop_u64(child, kho_abi.PROP_SUB_TREE_SIZE, file=file, what="KHO root FDT")
        elif gen == "B" and kho_abi.PROP_SUB_TREE_SIZE in child.props:
            # a "kho-v2" tree that already has blob-size (pre_v6.POSTING_KHO_V2_BLOB_SIZE)
            from pcilu_cli.abi.pre_v6 import POSTING_KHO_V2_BLOB_SIZE
            size = prop_u64(child, kho_abi.PROP_SUB_TREE_SIZE, file=file, what="KHO root FDT")
            posting = POSTING_KHO_V2_BLOB_SIZE
        else:
            size = None
        subs.append((child.name, pa, size))
    return KhoRootFdt(compat, mem_map, subs, fdt_totalsize(data), gen, posting)


class LuoFdt(Value):
    """A validated LUO FDT (gen A-C)."""

    FIELDS = ("liveupdate_num", "session_header_pa", "flb_header_pa")

    def __init__(self, liveupdate_num: int, session_header_pa: int, flb_header_pa: int | None):
        self.liveupdate_num = liveupdate_num
        self.session_header_pa = session_header_pa
        self.flb_header_pa = flb_header_pa



def read_luo_fdt(data: bytes, *, file=None, root: FdtNode | None = None) -> LuoFdt:
    """Validate LUO's gen A-C FDT as luo_early_startup() does (compatibles, 8-byte props);
    ``root`` as for :func:`read_kho_root_fdt`."""
    what = "LUO FDT"
    if root is None:
        root = parse_fdt(data, file=file, what=what)
    check_compatible(root, luo_abi.LUO_FDT_COMPATIBLE, file=file, what=what)
    num = prop_u64(root, luo_abi.LUO_FDT_LIVEUPDATE_NUM, file=file, what=what)
    sess = root.child(luo_abi.LUO_FDT_SESSION_NODE_NAME)
    if sess is None:
        raise BadInput(f"{what}: node {luo_abi.LUO_FDT_SESSION_NODE_NAME!r} missing", file=file,
                       field=f"/{luo_abi.LUO_FDT_SESSION_NODE_NAME}")
    check_compatible(sess, luo_abi.LUO_FDT_SESSION_COMPATIBLE, file=file, what=what)
    sess_pa = prop_u64(sess, luo_abi.LUO_FDT_SESSION_HEADER, file=file, what=what)
    flb = root.child(luo_abi.LUO_FDT_FLB_NODE_NAME)
    flb_pa = None
    if flb is not None:
        check_compatible(flb, luo_abi.LUO_FDT_FLB_COMPATIBLE, file=file, what=what)
        flb_pa = prop_u64(flb, luo_abi.LUO_FDT_FLB_HEADER, file=file, what=what)
    return LuoFdt(num, sess_pa, flb_pa)


def is_kho_root(root: FdtNode) -> bool:
    """A KHO root FDT (any generation's ``kho-v*`` compatible), read by read_kho_root_fdt()."""
    return any(c.startswith("kho-v") for c in root.compatible())


def is_luo_fdt(root: FdtNode) -> bool:
    return luo_abi.LUO_FDT_COMPATIBLE in root.compatible()


def is_plain_tree(root: FdtNode) -> bool:
    """Neither of the hand-over's own trees: shown as it is, node by node."""
    return not (is_kho_root(root) or is_luo_fdt(root))


def prop_values(node: FdtNode) -> dict:
    """A node's properties, JSON-able: ``compatible`` as its string list, 8-byte values as the
    u64 KHO writes (raw little-endian, not FDT cells), anything else as hex."""
    props = {}
    for k, (v, _off) in node.props.items():
        if k == "compatible":
            props[k] = node.compatible()
        elif len(v) == 8:
            props[k] = _U64.unpack(v)[0]
        else:
            props[k] = v.hex()
    return props


def fdt_to_dict(node: FdtNode) -> dict:
    """A JSON-able view of the tree under ``node`` (values as :func:`prop_values`)."""
    return {"name": node.name or "/", "props": prop_values(node),
            "children": [fdt_to_dict(c) for c in node.children]}


def walk_fdt(node: FdtNode):
    """``(depth, node)`` events in document order, without recursion: a node is yielded when
    it opens, and ``(depth, None)`` when it closes. Every view of a whole
    tree goes through this, so a tree of 100k nodes never exists twice."""
    stack = [(0, node)]
    while stack:
        depth, n = stack.pop()
        if n is None:
            yield depth, None
            continue
        yield depth, n
        stack.append((depth, None))
        stack.extend((depth + 1, c) for c in reversed(n.children))


def shown(text: str) -> str:
    """A name or string from a tree, safe to print on a terminal: a crafted blob's control
    characters (an escape sequence in a node name) come out as ``\\xNN``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _dts_value(name: str, v: bytes) -> str:
    if name == "compatible" or (v.endswith(b"\0") and len(v) > 1 and _printable(v[:-1])):
        raw = v[:-1] if v.endswith(b"\0") else v
        return ", ".join('"' + shown(s.decode("latin-1")).replace('"', '\\"') + '"'
                         for s in raw.split(b"\0")) + ";"
    if len(v) % 4 == 0:                # FDT cells: big-endian u32s, as dtc prints them
        cells = "<" + " ".join(f"{int.from_bytes(v[i:i + 4], 'big'):#04x}"
                               for i in range(0, len(v), 4)) + ">"
        if len(v) == 8:                # KHO writes a u64 as 8 raw little-endian bytes
            return f"{cells}; /* u64 {_U64.unpack(v)[0]:#x} */"
        return cells + ";"
    return "[" + " ".join(f"{b:02x}" for b in v) + "];"


def _printable(raw: bytes) -> bool:
    return all(0x20 <= b < 0x7F or b == 0 for b in raw) and not raw.startswith(b"\0") \
        and b"\0\0" not in raw


def dts_lines(tree: FdtNode):
    """The tree in device-tree source syntax, one line at a time (as ``dtc -O dts`` lays it
    out: a tab per level, ``name = value;``, a blank line before a child node); string lists
    as a list of quoted strings (dtc joins them with ``\\0``), multiples of 4 bytes as
    cells, an 8-byte value also as the u64 KHO stores in it (in a comment), the rest as
    bytes."""
    for depth, n in walk_fdt(tree):
        if n is None:
            yield "\t" * depth + "};"
            continue
        pad = "\t" * depth
        if n.parent is None:
            yield "/ {"
        else:
            yield ""
            yield f"{pad}{shown(n.name)} {{"
        for k, (v, _off) in n.props.items():
            yield f"{pad}\t{shown(k)};" if not v else f"{pad}\t{shown(k)} = {_dts_value(k, v)}"


def write_fdt_json(node: FdtNode, write, dumps, *, chunk: int = 4096) -> None:
    """Write ``dumps(fdt_to_dict(node))`` through ``write(text)`` piece by piece: the same
    text, without one dict per node or one string of the whole tree."""
    out, after_child = [], []          # after_child[d]: depth d has written a child already
    for _depth, n in walk_fdt(node):
        if n is None:
            out.append("]}")
            after_child.pop()
        else:
            if after_child:
                out.append("," if after_child[-1] else "")
                after_child[-1] = True
            out.append('{"name":' + dumps(n.name or "/") + ',"props":' + dumps(prop_values(n))
                       + ',"children":[')
            after_child.append(False)
        if len(out) >= chunk:
            write("".join(out))
            out = []
    write("".join(out))
