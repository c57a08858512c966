# SPDX-License-Identifier: GPL-2.0-only
"""The hand-written YAML fabric format (docs/fabric-format.md): load with validation, and dump.

Nodes are keyed by BDF and linked by ``parent`` (pci-fabric.md §5).  Every error is a
BadInput naming the file, the line and the field; unknown keys get a "did you mean" hint.

API:
    load_yaml(path) -> Fabric
    load_yaml_text(text, file="<string>") -> Fabric
    dump_yaml(fabric) -> str          round-trips: load_yaml_text(dump_yaml(f)) has the same
                                      topology and config bytes as ``f``
"""
from __future__ import annotations

import difflib
from pathlib import Path

from sys import intern

import yaml

from pcilu_cli.errors import BadInput, Diagnostic
from pcilu_cli.abi.bdf import format_bdf, parse_bdf
from pcilu_cli.abi import pci_regs as R
from pcilu_cli.abi.pci_regs import PORT_TYPE_BY_NAME, POWER_STATES
from pcilu_cli.fabric.build import FabricBuilder, check_topology
from pcilu_cli.fabric.config import VALID_SIZES, ConfigSpace
from pcilu_cli.fabric.function_spec import KIND_ALIASES, KINDS, FunctionSpec, kind_of, make_config
from pcilu_cli.fabric.model import Fabric, Function

TOP_KEYS = {"pcilu_fabric", "name", "source", "platform", "domains", "nodes", "description"}
NODE_KEYS = {"parent", "kind", "vendor", "device", "class", "revision", "header", "command",
             "bus_master", "bus", "pcie", "ari_forwarding", "acs", "ari", "sriov",
             "power_state", "reset_on_kexec", "acs_quirk", "broken", "config", "virtfn_of",
             "vf_index", "comment", "name", "config_size"}
HEADER_KEYS = {"type", "multifunction"}
BUS_KEYS = {"primary", "secondary", "subordinate"}
PCIE_KEYS = {"version", "type", "slot"}
ARIFWD_KEYS = {"supported", "enabled"}
ACS_KEYS = {"cap", "ctrl"}
ARI_KEYS = {"next_function"}
SRIOV_KEYS = {"total_vfs", "initial_vfs", "num_vfs", "vf_enable", "first_vf_offset",
              "vf_stride", "vf_device", "ari_capable_hierarchy"}
COMMAND_BITS = {"io": R.PCI_COMMAND_IO, "memory": R.PCI_COMMAND_MEMORY,
                "bus_master": R.PCI_COMMAND_MASTER, "special": R.PCI_COMMAND_SPECIAL,
                "mwi": R.PCI_COMMAND_INVALIDATE, "vga_snoop": R.PCI_COMMAND_VGA_PALETTE,
                "parity": R.PCI_COMMAND_PARITY, "serr": R.PCI_COMMAND_SERR,
                "fast_b2b": R.PCI_COMMAND_FAST_BACK, "intx_disable": R.PCI_COMMAND_INTX_DISABLE}
ACS_FLAGS = {"SV": R.PCI_ACS_SV, "TB": R.PCI_ACS_TB, "RR": R.PCI_ACS_RR, "CR": R.PCI_ACS_CR,
             "UF": R.PCI_ACS_UF, "EC": R.PCI_ACS_EC, "DT": R.PCI_ACS_DT}
PLATFORM_KEYS = {"assign_all_busses", "iommu", "cmdline"}
NEVER_ACS = {"pcie_pci_bridge", "pci_pcie_bridge", "rcec", "pci_bridge", "pci_endpoint",
             "cardbus", "host_bridge"}


# ---------------------------------------------------------------------------------------------
# a YAML loader that remembers lines and never turns "00:01.0" into a sexagesimal number

class _LDict(dict):
    """A mapping of the file with ``line`` (where it starts) and ``lines`` (key -> line);
    slotted: a 65,536-function fabric has ~400k of them."""
    __slots__ = ("line", "lines")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):   # libyaml parser: ~10x faster
    pass


def marked_mapping(dict_cls, key_ok):
    """A mapping constructor that builds ``dict_cls`` with ``line`` (where it starts) and
    ``lines`` (key -> line), refusing keys for which ``key_ok(key)`` is false and duplicate
    keys, each with file:line. Shared by the fabric and scenario loaders."""
    def construct(loader, node):
        loader.flatten_mapping(node)
        d = dict_cls()
        d.line = node.start_mark.line + 1
        d.lines = {}
        for k_node, v_node in node.value:
            key = loader.construct_object(k_node, deep=True)
            line = k_node.start_mark.line + 1
            if not key_ok(key):
                raise BadInput("a mapping key must be a scalar", file=loader._pcilu_file,
                               line=line)
            if key in d:
                raise BadInput(f"duplicate key {key!r}", file=loader._pcilu_file, line=line,
                               field=str(key))
            d[key] = loader.construct_object(v_node, deep=True)
            d.lines[key] = line
        return d
    # what parse_marked_yaml() builds from the event stream (the same values, the same checks)
    construct.dict_cls, construct.key_ok = dict_cls, key_ok
    return construct


def marked_sequence(list_cls):
    """A sequence constructor that builds ``list_cls`` with ``line`` and ``lines`` (index ->
    line of each item)."""
    def construct(loader, node):
        out = list_cls(loader.construct_object(n, deep=True) for n in node.value)
        out.line = node.start_mark.line + 1
        out.lines = [n.start_mark.line + 1 for n in node.value]
        return out
    construct.list_cls = list_cls
    return construct


def bdf_safe_number(kind):
    """The int/float constructor, except that a scalar with a colon stays a string: YAML 1.1
    would read a BDF such as ``01:00.0`` as a base-60 number."""
    base = getattr(yaml.SafeLoader, f"construct_yaml_{kind}")

    def construct(loader, node):
        if ":" in node.value:
            return node.value
        return base(loader, node)
    return construct


_construct_map = marked_mapping(_LDict, lambda key: not isinstance(key, (list, dict)))
_construct_number = bdf_safe_number


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_number("int"))
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_number("float"))


# Fabric and scenario files nest a handful of levels; construction recurses per level
MAX_YAML_DEPTH = 100


_ALIASES = ("YAML anchors and aliases (&name, *name) are not accepted in pcilu files: the "
            "value anchored here is used again; write it out")
_MAP_TAG = yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG
_SEQ_TAG = yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG


def parse_marked_yaml(loader_cls, text: str, file: str):
    """Parse one YAML document with ``loader_cls``'s parser, resolver and scalar constructors
    into the mapping (and sequence) types its marked constructors name, every mapping with
    ``line`` and ``lines``; any YAML error, including a control character caught by the
    reader, becomes BadInput(file:line).

    Built straight from the parser's events, never from a composed node graph: PyYAML's
    nodes and their marks cost ~100 bytes of memory per byte of YAML (a 4.5 MB fabric took
    480 MB), the events are dropped as they are read. Aliases (``*name``: a node reached
    twice — "billion laughs" expands a few lines into gigabytes) and nesting deeper than
    MAX_YAML_DEPTH are refused where they appear, with file:line."""
    loader = None
    cons = loader_cls.yaml_constructors
    mapping = cons[_MAP_TAG]
    dict_cls, key_ok = mapping.dict_cls, mapping.key_ok
    seq = cons.get(_SEQ_TAG)
    list_cls = getattr(seq, "list_cls", None)
    undefined = cons[None]
    try:
        # the loader's constructor already reads the stream: a control character raises here
        loader = loader_cls(text)
        loader._pcilu_file = file
        # frames: [container, key (mappings: _NO_KEY until a key is read), key line]
        stack: list = []
        result = _NO_KEY
        documents = 0
        anchors: dict = {}
        E = yaml.events
        while loader.check_event():
            ev = loader.get_event()
            t = ev.__class__
            line = ev.start_mark.line + 1 if ev.start_mark is not None else None
            anchor = getattr(ev, "anchor", None)
            if anchor is not None and t is not E.AliasEvent:
                anchors[anchor] = line      # where an alias's message points
            if t is E.ScalarEvent:
                tag = ev.tag
                if tag is None or tag == "!":
                    tag = loader.resolve(yaml.ScalarNode, ev.value, ev.implicit)
                node = yaml.ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark,
                                       style=ev.style)
                value = cons.get(tag, undefined)(loader, node)
                if len(stack) + 1 > MAX_YAML_DEPTH:
                    raise BadInput(f"YAML nests deeper than {MAX_YAML_DEPTH} levels",
                                   file=file, line=line)
            elif t is E.MappingStartEvent or t is E.SequenceStartEvent:
                want = _MAP_TAG if t is E.MappingStartEvent else _SEQ_TAG
                if ev.tag not in (None, "!", want):
                    raise BadInput(f"YAML tag {ev.tag} is not accepted in pcilu files",
                                   file=file, line=line)
                if stack and isinstance(stack[-1][0], dict) and stack[-1][1] is _NO_KEY:
                    if not key_ok([] if want == _SEQ_TAG else {}):
                        raise BadInput("a mapping key must be a scalar", file=file, line=line)
                if len(stack) + 1 > MAX_YAML_DEPTH:
                    raise BadInput(f"YAML nests deeper than {MAX_YAML_DEPTH} levels",
                                   file=file, line=line)
                if t is E.MappingStartEvent:
                    c = dict_cls()
                    c.line, c.lines = line, {}
                else:
                    c = (list_cls or list)()
                    if list_cls is not None:
                        c.line, c.lines = line, []
                stack.append([c, _NO_KEY, None])
                continue
            elif t is E.MappingEndEvent or t is E.SequenceEndEvent:
                value = stack.pop()[0]
                line = value.line if hasattr(value, "line") else None
            elif t is E.AliasEvent:
                raise BadInput(_ALIASES, file=file, line=anchors.get(ev.anchor, line))
            elif t is E.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise BadInput("YAML: expected a single document in the stream, found "
                                   "another", file=file, line=line)
                continue
            else:                           # stream and document ends
                continue
            # a value is complete: it goes into the container it belongs to
            if not stack:
                result = value
                continue
            top = stack[-1]
            c = top[0]
            if isinstance(c, dict):
                if top[1] is _NO_KEY:
                    if not key_ok(value):
                        raise BadInput("a mapping key must be a scalar", file=file, line=line)
                    if value in c:
                        raise BadInput(f"duplicate key {value!r}", file=file, line=line,
                                       field=str(value))
                    if value.__class__ is str:
                        value = intern(value)   # "vendor" once, not once per function
                    top[1], top[2] = value, line
                else:
                    c[top[1]] = value
                    c.lines[top[1]] = top[2]
                    top[1] = _NO_KEY
            else:
                c.append(value)
                if list_cls is not None:
                    c.lines.append(line)
        return None if result is _NO_KEY else result
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise BadInput(f"YAML syntax: {e.problem or e}", file=file, line=line) from None
    except yaml.YAMLError as e:
        raise BadInput(f"YAML: {e}", file=file) from None
    except TypeError as e:                  # an unhashable key that key_ok let through
        raise BadInput(f"YAML: {e}", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()


_NO_KEY = object()


def _parse_yaml(text: str, file: str):
    return parse_marked_yaml(_Loader, text, file)


# ---------------------------------------------------------------------------------------------
# validation


class _Ctx:
    def __init__(self, file):
        self.file = file
        self.diags: list[Diagnostic] = []

    def err(self, msg, d=None, key=None, field=None):
        raise BadInput(msg, file=self.file, line=_line(d, key), field=field)

    def warn(self, msg, d=None, key=None, field=None):
        self.diags.append(Diagnostic(msg, file=self.file, line=_line(d, key), field=field))


def _line(d, key=None):
    if isinstance(d, _LDict):
        if key is not None and key in d.lines:
            return d.lines[key]
        return d.line
    return None


def _check_keys(ctx, d, allowed, where):
    if not isinstance(d, dict):
        ctx.err(f"{where} must be a mapping", field=where)
    for k in d:
        if k not in allowed:
            hint = _did_you_mean(k, sorted(allowed)) or \
                f" (expected one of: {', '.join(sorted(allowed))})"
            ctx.err(f"unknown key {k!r}{hint}", d, k, field=f"{where}.{k}" if where else str(k))


def _did_you_mean(word, choices) -> str:
    """The " (did you mean 'x'?)" hint for an unknown name, or ""."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _int(ctx, d, key, where, lo=0, hi=0xFFFFFFFF, default=None):
    if key not in d or d[key] is None:
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, str):
            try:
                v = int(v, 0)
            except ValueError:
                ctx.err(f"expected an integer, got {v!r}", d, key, f"{where}.{key}")
        else:
            ctx.err(f"expected an integer, got {v!r}", d, key, f"{where}.{key}")
    if not lo <= v <= hi:
        ctx.err(f"{v:#x} out of range [{lo:#x}, {hi:#x}]", d, key, f"{where}.{key}")
    return v


def _bool(ctx, d, key, where, default=None):
    if key not in d or d[key] is None:
        return default
    v = d[key]
    if not isinstance(v, bool):
        ctx.err(f"expected true or false, got {v!r}", d, key, f"{where}.{key}")
    return v


def _flags16(ctx, d, key, where, table):
    """A raw u16, or a list of flag names."""
    v = d.get(key)
    if isinstance(v, list):
        out = 0
        for name in v:
            if str(name).upper() not in table:
                hint = _did_you_mean(str(name).upper(), table)
                ctx.err(f"unknown flag {name!r}{hint}", d, key, f"{where}.{key}")
            out |= table[str(name).upper()]
        return out
    return _int(ctx, d, key, where, 0, 0xFFFF, 0)


# ---------------------------------------------------------------------------------------------
# loading


def load_yaml(path) -> Fabric:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise BadInput(f"cannot read: {e.strerror or e}", file=str(path)) from None
    except UnicodeDecodeError as e:
        raise BadInput("not UTF-8 text", file=str(path), offset=e.start) from None
    return load_yaml_text(text, str(path))


def load_yaml_text(text: str, file: str = "<string>") -> Fabric:
    ctx = _Ctx(file)
    doc = _parse_yaml(text, file)
    if not isinstance(doc, dict):
        ctx.err("a fabric file must be a YAML mapping with 'pcilu_fabric: 1'")
    _check_keys(ctx, doc, TOP_KEYS, "")
    ver = doc.get("pcilu_fabric")
    if ver != 1:
        ctx.err(f"unsupported or missing format version {ver!r} (expected 1)", doc,
                "pcilu_fabric", "pcilu_fabric")
    platform = doc.get("platform") or {}
    _check_keys(ctx, platform, PLATFORM_KEYS, "platform")
    source = doc.get("source") or {"kind": "hand-written"}
    if not isinstance(source, dict):
        ctx.err("source must be a mapping", doc, "source", "source")
    b = FabricBuilder(str(doc.get("name") or Path(file).stem), _plain(source), _plain(platform))
    domains = doc.get("domains") or []
    if not isinstance(domains, list):
        ctx.err("'domains' must be a list of {domain, root_buses}", doc, "domains", "domains")
    for dom in domains:
        if not isinstance(dom, dict):
            ctx.err(f"a domain must be a mapping {{domain, root_buses}}, not {dom!r}", doc,
                    "domains", "domains[]")
        _check_keys(ctx, dom, {"domain", "root_buses"}, "domains[]")
        dnum = _int(ctx, dom, "domain", "domains[]", 0, 0xFFFFFF, 0)
        roots = dom.get("root_buses") or [0]
        if not isinstance(roots, list):
            ctx.err(f"root_buses must be a list of bus numbers, not {roots!r}", dom,
                    "root_buses", "root_buses")
        for rb in roots:
            if not isinstance(rb, int) or not 0 <= rb <= 0xFF:
                ctx.err(f"root bus {rb!r} is not 0..0xff", dom, "root_buses", "root_buses")
            b.root(dnum, rb)
    nodes = doc.get("nodes")
    if not isinstance(nodes, dict) or not nodes:
        ctx.err("'nodes' must be a non-empty mapping of BDF -> node", doc, "nodes", "nodes")
    vf_decls = {}
    broken = set()
    node_of = {}                  # uid -> its YAML node, for messages that point at a line
    for key, node in nodes.items():
        if not isinstance(key, str):
            ctx.err(f"node key {key!r} must be a BDF string like \"0000:01:00.0\"",
                    nodes, key, "nodes")
        try:
            dom, bus, devfn = parse_bdf(key)
        except ValueError as e:
            ctx.err(str(e), nodes, key, key)
        uid = format_bdf(dom, bus, devfn)
        if uid in b.specs or uid in vf_decls:
            ctx.err(f"duplicate node {uid}", nodes, key, key)
        if not isinstance(node, dict):
            ctx.err("a node must be a mapping", nodes, key, key)
        _check_keys(ctx, node, NODE_KEYS, uid)
        node_of[uid] = node
        if node.get("virtfn_of") is not None:
            vf_decls[uid] = node
            continue
        spec = _node_spec(ctx, uid, node)
        if node.get("broken"):
            broken.add(uid)
        b.add(spec)
    # parents
    for uid, spec in b.specs.items():
        node = node_of[uid]
        if spec.parent is not None:
            if spec.parent not in b.specs:
                hint = _did_you_mean(spec.parent, b.specs)
                ctx.err(f"parent {spec.parent} is not a node of this fabric{hint}", node,
                        "parent", f"{uid}.parent")
            pk = KIND_ALIASES.get(b.specs[spec.parent].kind, b.specs[spec.parent].kind)
            praw = b.specs[spec.parent].raw
            bridges = (R.PCI_HEADER_TYPE_BRIDGE, R.PCI_HEADER_TYPE_CARDBUS)
            if praw is None and KINDS[pk][0] not in bridges or praw is not None and \
                    (praw[R.PCI_HEADER_TYPE] & R.PCI_HEADER_TYPE_MASK) not in bridges:
                ctx.err(f"parent {spec.parent} is not a bridge (kind {pk})", node, "parent",
                        f"{uid}.parent")
    try:
        fab = b.build(assign=None)
    except ValueError as e:
        ctx.err(str(e))
    fab.source = _plain(source)
    # topology checks
    for fuid, field, msg in check_topology(fab):
        if fuid in broken:
            continue
        ctx.err(f"{fuid}: {msg}", node_of.get(fuid), "bus", f"{fuid}.{field}")
    for fn in fab.functions(include_virtfns=False):
        cur = fab.current_bdf(fn)
        if cur is not None and format_bdf(*cur) != fn.uid and fn.uid not in broken:
            up = fn.upstream
            ctx.err(f"{fn.uid} sits at {format_bdf(*cur)} (its parent "
                    f"{up.uid if up else 'root bus'} has secondary bus {cur[1]:02x}); "
                    "name the node by that address or give the bridge's bus numbers",
                    node_of.get(fn.uid), None, fn.uid)
        if fn.acs_cap_offset is not None and kind_of(fn) in NEVER_ACS:
            ctx.warn(f"{fn.uid}: ACS capability on a {kind_of(fn)}, which never implements "
                     "ACS per PCIe r3.0 §6.12", node_of.get(fn.uid), "acs",
                     f"{fn.uid}.acs")
    for uid, node in vf_decls.items():
        pf = node.get("virtfn_of")
        if not fab.has_uid(uid) or not fab.by_uid(uid).is_virtfn or \
                fab.by_uid(uid).physfn.uid != str(pf):
            ctx.err(f"VF {uid} is not generated by PF {pf}'s SR-IOV registers (a VF is "
                    "listed only to name one that the PF's sriov block creates)", node,
                    "virtfn_of", f"{uid}.virtfn_of")
    fab.diagnostics.extend(ctx.diags)
    return fab


def _plain(d):
    if isinstance(d, dict):
        return {str(k): _plain(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_plain(v) for v in d]
    return d


def _node_spec(ctx, uid, node) -> FunctionSpec:
    w = uid
    parent = node.get("parent")
    if parent is not None:
        if not isinstance(parent, str):
            ctx.err(f"parent must be a BDF string or null, got {parent!r}", node, "parent",
                    f"{w}.parent")
        try:
            parent = format_bdf(*parse_bdf(parent))
        except ValueError as e:
            ctx.err(str(e), node, "parent", f"{w}.parent")
    raw = None
    if node.get("config") is not None:
        raw = _raw_config(ctx, node, w)
    header = node.get("header") or {}
    _check_keys(ctx, header, HEADER_KEYS, f"{w}.header")
    htype = _int(ctx, header, "type", f"{w}.header", 0, 2)
    pcie = node.get("pcie")
    if pcie is not None:
        _check_keys(ctx, pcie, PCIE_KEYS, f"{w}.pcie")
    ptype = pcie.get("type") if pcie else None
    if ptype is not None:
        if not isinstance(ptype, str):
            ctx.err(f"expected a PCIe port type name, got {ptype!r}", pcie, "type",
                    f"{w}.pcie.type")
        ptype = KIND_ALIASES.get(ptype, ptype)
        if ptype not in PORT_TYPE_BY_NAME:
            hint = _did_you_mean(ptype, PORT_TYPE_BY_NAME)
            ctx.err(f"unknown PCIe port type {ptype!r}{hint}", pcie, "type", f"{w}.pcie.type")
    kind = node.get("kind")
    if kind is not None:
        if not isinstance(kind, str):
            ctx.err(f"expected a kind name, got {kind!r}", node, "kind", f"{w}.kind")
        kind = KIND_ALIASES.get(kind, kind)
        if kind not in KINDS:
            hint = _did_you_mean(kind, list(KINDS) + list(KIND_ALIASES))
            ctx.err(f"unknown kind {kind!r}{hint}", node, "kind", f"{w}.kind")
    # derive kind from header/pcie, check agreement
    derived = None
    if ptype is not None:
        derived = ptype
    elif htype is not None:
        derived = {0: "pci_endpoint", 1: "pci_bridge", 2: "cardbus"}[htype]
    if kind is None:
        kind = derived
    if kind is None and raw is None:
        ctx.err("give 'kind' (or header.type / pcie.type)", node, None, f"{w}.kind")
    if kind is not None and raw is None:
        kh, kp, _ = KINDS[kind]
        if htype is not None and htype != kh:
            ctx.err(f"kind {kind} has header type {kh}, but header.type is {htype}", node,
                    "header", f"{w}.header.type")
        if ptype is not None and kp is not None and ptype != kp:
            ctx.err(f"kind {kind} disagrees with pcie.type {ptype}", node, "kind", f"{w}.kind")
    vendor = _int(ctx, node, "vendor", w, 0, 0xFFFF)
    device = _int(ctx, node, "device", w, 0, 0xFFFF)
    if raw is None and (vendor is None or device is None):
        ctx.err("vendor and device are required", node, "vendor" if vendor is None else
                "device", f"{w}.{'vendor' if vendor is None else 'device'}")
    command = None
    cmd = node.get("command")
    if isinstance(cmd, dict):
        _check_keys(ctx, cmd, set(COMMAND_BITS), f"{w}.command")
        command = 0
        for k, bit in COMMAND_BITS.items():
            if _bool(ctx, cmd, k, f"{w}.command"):
                command |= bit
    elif cmd is not None:
        command = _int(ctx, node, "command", w, 0, 0xFFFF)
    bus = None
    if node.get("bus") is not None:
        bd = node["bus"]
        _check_keys(ctx, bd, BUS_KEYS, f"{w}.bus")
        if kind is not None and KINDS[kind][0] == 0 and raw is None:
            ctx.err("bus numbers on a non-bridge", node, "bus", f"{w}.bus")
        p = _int(ctx, bd, "primary", f"{w}.bus", 0, 0xFF, 0)
        s = _int(ctx, bd, "secondary", f"{w}.bus", 0, 0xFF, 0)
        sub = _int(ctx, bd, "subordinate", f"{w}.bus", 0, 0xFF, s)
        bus = (p, s, sub)
        if not node.get("broken") and (s or sub):
            if s <= p or s > sub:
                ctx.err(f"invalid bus numbers {p:02x}/{s:02x}/{sub:02x}: need primary < "
                        "secondary <= subordinate (set broken: true to model a bridge "
                        "Linux reconfigures)", bd, "secondary", f"{w}.bus.secondary")
    arifwd = None
    if node.get("ari_forwarding") is not None:
        af = node["ari_forwarding"]
        if isinstance(af, bool):
            arifwd = (af, af)
        else:
            _check_keys(ctx, af, ARIFWD_KEYS, f"{w}.ari_forwarding")
            en = _bool(ctx, af, "enabled", f"{w}.ari_forwarding", False)
            arifwd = (_bool(ctx, af, "supported", f"{w}.ari_forwarding", en), en)
            if en and not arifwd[0]:
                ctx.err("ARI Forwarding enabled but not supported", af, "enabled",
                        f"{w}.ari_forwarding.enabled")
    acs = None
    if node.get("acs") is not None:
        a = node["acs"]
        _check_keys(ctx, a, ACS_KEYS, f"{w}.acs")
        acs = (_flags16(ctx, a, "cap", f"{w}.acs", ACS_FLAGS),
               _flags16(ctx, a, "ctrl", f"{w}.acs", ACS_FLAGS))
    ari_nf = None
    if node.get("ari") is not None:
        a = node["ari"]
        if a is True:
            ari_nf = 0
        else:
            _check_keys(ctx, a, ARI_KEYS, f"{w}.ari")
            ari_nf = _int(ctx, a, "next_function", f"{w}.ari", 0, 0xFF, 0)
    sriov = None
    if node.get("sriov") is not None:
        s = node["sriov"]
        _check_keys(ctx, s, SRIOV_KEYS, f"{w}.sriov")
        # a field left null is absent (its default below), as everywhere else in a node
        sriov = {k: _bool(ctx, s, k, f"{w}.sriov", False) if k in
                 ("vf_enable", "ari_capable_hierarchy") else _int(ctx, s, k, f"{w}.sriov",
                                                                 0, 0xFFFF)
                 for k in SRIOV_KEYS if s.get(k) is not None}
        sriov.setdefault("total_vfs", sriov.get("num_vfs", 0))
        if sriov.get("num_vfs", 0) > sriov["total_vfs"]:
            ctx.err(f"num_vfs {sriov['num_vfs']} > total_vfs {sriov['total_vfs']}", s,
                    "num_vfs", f"{w}.sriov.num_vfs")
        if sriov.get("vf_enable") and sriov.get("num_vfs") and \
                not sriov.get("vf_stride", 1) and sriov.get("num_vfs") > 1:
            ctx.err("vf_stride 0 with several VFs", s, "vf_stride", f"{w}.sriov.vf_stride")
    ps = node.get("power_state")
    if ps is not None and ps not in POWER_STATES:
        hint = _did_you_mean(ps, POWER_STATES)
        ctx.err(f"unknown power state {ps!r}{hint}", node, "power_state", f"{w}.power_state")
    knobs = {}
    for k in ("reset_on_kexec", "acs_quirk"):
        v = _bool(ctx, node, k, w)
        if v is not None:
            knobs[k] = v
    if _bool(ctx, node, "broken", w):
        knobs["_keep_bus"] = True   # registers exactly as given: firmware left it broken
    if pcie is not None:
        pver = _int(ctx, pcie, "version", f"{w}.pcie", 1, 0xF, 2)
        slot = bool(_bool(ctx, pcie, "slot", f"{w}.pcie", False))
    else:
        pver, slot = 2, False
    if kind is not None and KINDS[kind][1] is None and raw is None:
        for k in ("acs", "ari", "sriov", "ari_forwarding"):
            if node.get(k) is not None:
                ctx.err(f"'{k}' needs a PCIe function; kind {kind} is conventional PCI",
                        node, k, f"{w}.{k}")
    if arifwd is not None and pver < 2:
        ctx.err("ARI Forwarding needs a version-2 PCIe capability", node, "ari_forwarding",
                f"{w}.ari_forwarding")
    spec = FunctionSpec(
        uid=uid, parent=parent, vendor=vendor or 0, device=device or 0,
        kind=kind or "endpoint", class_code=_int(ctx, node, "class", w, 0, 0xFFFFFF),
        revision=_int(ctx, node, "revision", w, 0, 0xFF, 0),
        multifunction=bool(_bool(ctx, header, "multifunction", f"{w}.header", False)),
        command=command, bus_master=_bool(ctx, node, "bus_master", w), bus=bus,
        pcie_version=pver, slot=slot, ari_forwarding=arifwd, acs=acs, ari_next_function=ari_nf,
        sriov=sriov, power_state=ps, knobs=knobs, raw=raw, line=_line(node))
    if raw is not None:
        _check_raw_agrees(ctx, spec, node, w)
    return spec


def _raw_config(ctx, node, w) -> bytes:
    v = node["config"]
    if not isinstance(v, str):
        ctx.err("config must be a hex string", node, "config", f"{w}.config")
    hexs = "".join(v.split())
    try:
        data = bytes.fromhex(hexs)
    except ValueError:
        ctx.err("config is not valid hex", node, "config", f"{w}.config")
    if len(data) > 4096:
        ctx.err(f"config has {len(data)} bytes (max 4096)", node, "config", f"{w}.config")
    size = _int(ctx, node, "config_size", w, 64, 4096)
    if size is not None:
        if size not in VALID_SIZES or len(data) > size:
            ctx.err(f"config_size {size} must be 64/128/256/4096 and hold the config bytes",
                    node, "config_size", f"{w}.config_size")
        data = data + bytes(size - len(data))
    return data


def _check_raw_agrees(ctx, spec, node, w):
    """With a raw config blob, any decoded field given must agree with it."""
    fn = Function(spec.uid, 0, ConfigSpace.from_bytes(spec.raw))
    checks = [("vendor", spec.vendor, fn.cfg.read(0, 2)), ("device", spec.device,
                                                          fn.cfg.read(2, 2))]
    if node.get("bus") is not None:
        checks.append(("bus", spec.bus, fn.bus_numbers()))
    if node.get("acs") is not None:
        checks.append(("acs", spec.acs, (fn.acs_cap, fn.acs_ctrl)))
    if node.get("bus_master") is not None:
        checks.append(("bus_master", spec.bus_master, fn.bus_master))
    for field, given, actual in checks:
        if node.get(field) is not None and given != actual:
            ctx.err(f"{field} {given!r} contradicts the config bytes ({actual!r})", node,
                    field, f"{w}.{field}")


# ---------------------------------------------------------------------------------------------
# dumping


def _hex(v, width=4):
    return f"0x{v:0{width}x}"


def spec_from_function(fn) -> FunctionSpec:
    """Decode a Function back into the hand-written facts (without the raw blob)."""
    kind = kind_of(fn)
    spec = FunctionSpec(uid=fn.uid, parent=fn.upstream.uid if fn.upstream else None,
                        vendor=fn.cfg.read(0, 2), device=fn.cfg.read(2, 2), kind=kind,
                        class_code=fn.class_code, revision=fn.revision,
                        multifunction=fn.multifunction, command=fn.command)
    if fn.is_bridge:
        spec.bus = fn.bus_numbers()
    if fn.pcie_cap is not None:
        spec.pcie_version = fn.pcie_version
        spec.slot = bool(fn.pcie_flags & 0x100)
        if fn.pcie_version >= 2 and (fn.ari_forwarding_supported or fn.ari_forwarding):
            spec.ari_forwarding = (fn.ari_forwarding_supported, fn.ari_forwarding)
    if fn.acs_cap_offset is not None:
        spec.acs = (fn.acs_cap, fn.acs_ctrl)
    if fn.ari_cap is not None:
        spec.ari_next_function = fn.ari_next_function
    sr = fn.sriov
    if sr is not None:
        spec.sriov = dict(total_vfs=sr.total_vfs, num_vfs=sr.num_vfs, vf_enable=sr.vf_enable,
                          first_vf_offset=sr.first_vf_offset, vf_stride=sr.vf_stride,
                          vf_device=sr.vf_device,
                          ari_capable_hierarchy=sr.ari_capable_hierarchy)
        spec.sriov["initial_vfs"] = fn.cfg.read(sr.offset + R.PCI_SRIOV_INITIAL_VF, 2)
    ps = fn.power_state
    spec.power_state = ps if ps != "D0" else None
    spec.knobs = {k: v for k, v in (fn._knobs or {}).items() if k != "power_state"}
    return spec


def dump_yaml(fabric: Fabric) -> str:
    """Write ``fabric`` in the YAML format; raw ``config`` is kept where the decoded facts
    would not rebuild the exact bytes (imported dumps), so loading it back is byte-exact."""
    lines = ["pcilu_fabric: 1", f"name: {_q(fabric.name)}"]
    if fabric.source:
        lines.append("source:")
        for k, v in fabric.source.items():
            lines.append(f"  {k}: {_q(v)}")
    if fabric.platform:
        lines.append("platform:")
        for k, v in fabric.platform.items():
            lines.append(f"  {k}: {_q(v)}")
    lines.append("domains:")
    doms = {}
    for r in fabric.roots:
        doms.setdefault(r.domain, []).append(r.number)
    for d, nums in doms.items():
        lines.append(f"  - domain: {_hex(d)}")
        lines.append(f"    root_buses: [{', '.join(_hex(n, 2) for n in nums)}]")
    lines.append("nodes:")
    for fn in fabric.functions(include_virtfns=False):
        spec = spec_from_function(fn)
        lines.append(f'  "{fn.uid}":')
        lines.append(f"    parent: {_q(spec.parent) if spec.parent else 'null'}")
        if spec.kind in KINDS:
            lines.append(f"    kind: {spec.kind}")
        lines.append(f"    vendor: {_hex(spec.vendor)}")
        lines.append(f"    device: {_hex(spec.device)}")
        lines.append(f"    class: {_hex(spec.class_code, 6)}")
        if spec.revision:
            lines.append(f"    revision: {_hex(spec.revision, 2)}")
        lines.append(f"    header: {{type: {fn.header_type}, multifunction: "
                     f"{str(spec.multifunction).lower()}}}")
        lines.append(f"    command: {_hex(spec.command)}")
        if spec.bus is not None:
            p, s, sub = spec.bus
            lines.append(f"    bus: {{primary: {_hex(p, 2)}, secondary: {_hex(s, 2)}, "
                         f"subordinate: {_hex(sub, 2)}}}")
        if fn.pcie_cap is not None:
            lines.append(f"    pcie: {{version: {spec.pcie_version}, type: {fn.pcie_type}, "
                         f"slot: {str(spec.slot).lower()}}}")
        if spec.ari_forwarding is not None:
            lines.append(f"    ari_forwarding: {{supported: "
                         f"{str(spec.ari_forwarding[0]).lower()}, enabled: "
                         f"{str(spec.ari_forwarding[1]).lower()}}}")
        if spec.acs is not None:
            lines.append(f"    acs: {{cap: {_hex(spec.acs[0])}, ctrl: {_hex(spec.acs[1])}}}")
        if spec.ari_next_function is not None:
            lines.append(f"    ari: {{next_function: {spec.ari_next_function}}}")
        if spec.sriov is not None:
            s = spec.sriov
            lines.append("    sriov: {" + ", ".join(
                f"{k}: {str(v).lower() if isinstance(v, bool) else (_hex(v) if k == 'vf_device' else v)}"
                for k, v in s.items()) + "}")
        if spec.power_state:
            lines.append(f"    power_state: {spec.power_state}")
        for k, v in sorted(spec.knobs.items()):
            if k in ("reset_on_kexec", "acs_quirk"):
                lines.append(f"    {k}: {str(bool(v)).lower()}")
        if not _rebuilds_exactly(fn, spec):
            lines.append(f"    config: {_hex_blob(fn.cfg)}")
        if fn.is_bridge and _bad_bus(fn):
            lines.append("    broken: true")
    return "\n".join(lines) + "\n"


def _bad_bus(fn) -> bool:
    p, s, sub = fn.bus_numbers()
    return bool(s or sub) and (s <= p or s > sub)


def _rebuilds_exactly(fn, spec) -> bool:
    if fn.pcie_type is not None and fn.pcie_type not in KINDS:
        return False
    if spec.kind not in KINDS:
        return False
    try:
        return make_config(spec) == fn.cfg
    except (ValueError, KeyError):
        return False


def _hex_blob(cfg) -> str:
    data = cfg.to_bytes().rstrip(b"\0")
    return '"' + data.hex() + f'"\n    config_size: {cfg.size}'


def _q(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
