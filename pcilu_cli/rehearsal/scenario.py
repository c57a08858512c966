# SPDX-License-Identifier: GPL-2.0-only
"""The scenario file: a fabric, a kernel, and steps with expectations — parsed and validated.

Format reference: docs/scenarios.md. Everything that can be checked before running is checked
here, with ``file:line`` from the YAML marks (exit 3): unknown keys, wrong types, malformed
BDFs, BDFs that name no function of the fabric, unknown profiles and power states, a
``refused``/``panic`` expectation on a step that cannot refuse or panic.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pcilu_cli.errors import BadInput, PcIluError
from pcilu_cli.rehearsal import faults
from pcilu_cli.rehearsal.yamlmarks import LList, LMap, line_of, parse

FORMAT_KEY = "pcilu_scenario"
TOP_KEYS = {FORMAT_KEY, "name", "description", "fabric", "profile", "kernel", "cmdline",
            "steps", "flb"}     # flb: generation 0 boots from a raw struct pci_ser (faults.py)
STEP_META = {"name", "expect", "note"}
# action -> does it run in the simulated kernel (so it may be refused / may panic)?
ACTIONS = {
    "preserve": True, "unpreserve": True, "finish": True, "hot-remove": True,
    "rescan": True, "hot-add": True, "kexec": True,
    "reset": False, "reset-on-kexec": False, "power": False, "check": False,
    **{a: True for a in faults.ACTIONS},       # faults and driver behaviour (faults.py)
}
POWER_STATES = ("D0", "D1", "D2", "D3hot", "D3cold")
LOG_SCOPES = ("step", "generation")
PCI_SER_KEYS = {"which", "exists", "nr_devices", "entries", "max_nr_devices", "slots"}
COUNT_KEYS = {"incoming", "outgoing", "enumerated", "was_incoming"}
HOT_ADD_KEYS = {"bdf", "parent", "vendor", "device", "kind", "class", "bus_master"}


@dataclass
class Expectation:
    kind: str
    arg: object
    line: int | None
    text: str = ""                      # what is expected, in words


@dataclass
class Step:
    index: int                          # 1-based
    action: str
    args: dict
    line: int | None
    name: str | None = None
    note: str | None = None
    expect: list = field(default_factory=list)

    @property
    def title(self) -> str:
        a = self.args
        if self.action in ("preserve", "unpreserve", "finish", "hot-remove", "reset"):
            return f"{self.action} {a['bdf']}"
        if self.action == "kexec":
            extra = [f"profile {a['profile']}"] if a.get("profile") else []
            if a.get("cmdline") is not None:
                extra.append(f'cmdline "{a["cmdline"]}"')
            return "kexec" + (f" ({', '.join(extra)})" if extra else "")
        if self.action == "hot-add":
            return f"hot-add {a['bdf']}"
        if self.action == "reset-on-kexec":
            return "reset-on-kexec " + " ".join(a["bdfs"])
        if self.action == "power":
            return "power " + " ".join(f"{b}={s}" for b, s in a["states"].items())
        if self.action in faults.ACTIONS:
            return faults.title(self.action, a)
        return self.action

    @property
    def label(self) -> str:
        """How messages name the step: ``step 4 (kexec)``."""
        return f"step {self.index} ({self.name or self.title})"


@dataclass
class Scenario:
    path: str
    name: str
    description: str | None
    fabric: object                      # pcilu_cli.fabric.model.Fabric (pristine; copy to run)
    fabric_ref: str
    profile: str
    cmdline: str
    steps: list
    start: dict | None = None           # top-level ``flb``: boot generation 0 from a raw blob


# ---- validation ----------------------------------------------------------------------------

class _V:
    def __init__(self, file):
        self.file = file

    def err(self, msg, obj=None, key=None, field=None):
        if field is not None and (msg.startswith(field) or field.startswith("step ")):
            field = None                # the message already says where
        raise BadInput(msg, file=self.file, line=line_of(obj, key), field=field)

    def keys(self, d, allowed, where, obj=None, key=None):
        if not isinstance(d, dict):
            self.err(f"{where} must be a mapping, not {_tname(d)}", obj, key, where)
        for k in d:
            if k not in allowed:
                self.err(f"unknown key {k!r} in {where} (allowed: {', '.join(sorted(allowed))})",
                         d, k, where)

    def str_(self, v, where, obj, key, allow_none=False):
        if v is None and allow_none:
            return None
        if not isinstance(v, str):
            self.err(f"{where} must be a string, not {_tname(v)}", obj, key, where)
        return v

    def int_(self, v, where, obj, key, lo=0, hi=0xFFFFFFFF):
        if isinstance(v, bool) or not isinstance(v, int):
            self.err(f"{where} must be an integer, not {_tname(v)}", obj, key, where)
        if not lo <= v <= hi:
            self.err(f"{where} = {v} is out of range [{lo}, {hi:#x}]", obj, key, where)
        return v

    def bool_(self, v, where, obj, key):
        if not isinstance(v, bool):
            self.err(f"{where} must be true or false, not {_tname(v)}", obj, key, where)
        return v

    def bdf(self, v, where, obj, key):
        from pcilu_cli.abi.bdf import format_bdf, parse_bdf
        if not isinstance(v, str):
            self.err(f"{where}: {v!r} is not a BDF (DDDD:BB:DD.F or BB:DD.F)", obj, key, where)
        try:
            return format_bdf(*parse_bdf(v))
        except ValueError as e:
            self.err(f"{where}: {e}", obj, key, where)

    def bdfs(self, v, where, obj, key):
        if isinstance(v, list):
            if not v:
                self.err(f"{where}: empty list", obj, key, where)
            return [self.bdf(x, where, v, i) for i, x in enumerate(v)]
        return [self.bdf(v, where, obj, key)]


def _tname(v) -> str:
    if v is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            LMap: "a mapping", dict: "a mapping", LList: "a list",
            list: "a list"}.get(type(v), type(v).__name__)


# ---- loading --------------------------------------------------------------------------------

def load_scenario(path) -> Scenario:
    """Read and validate a scenario file (raises BadInput with file:line, exit 3)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise BadInput(f"cannot read: {e.strerror or e}", file=str(path)) from None
    except UnicodeDecodeError as e:
        raise BadInput("not UTF-8 text", file=str(path), offset=e.start) from None
    return load_scenario_text(text, str(path), base_dir=p.parent)


def load_scenario_text(text: str, file: str = "<string>", *, base_dir=".") -> Scenario:
    v = _V(file)
    v.base_dir = base_dir
    doc = parse(text, file)
    if not isinstance(doc, dict):
        v.err(f"a scenario must be a YAML mapping starting with '{FORMAT_KEY}: 1'", doc)
    v.keys(doc, TOP_KEYS, "the scenario")
    if doc.get(FORMAT_KEY) != 1:
        v.err(f"missing or unsupported '{FORMAT_KEY}' (expected 1, found "
              f"{doc.get(FORMAT_KEY)!r})", doc, FORMAT_KEY, FORMAT_KEY)
    name = v.str_(doc.get("name", Path(file).stem), "name", doc, "name")
    desc = v.str_(doc.get("description"), "description", doc, "description", allow_none=True)
    profile = _profile_or_kernel(v, doc) or "v6"
    cmdline = v.str_(doc.get("cmdline", ""), "cmdline", doc, "cmdline", allow_none=True) or ""
    if "fabric" not in doc:
        v.err("missing 'fabric' (a path relative to this file, or an inline fabric mapping)",
              doc, None, "fabric")
    fabric, ref = _load_fabric(v, doc, text, base_dir)
    steps_raw = doc.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        v.err("'steps' must be a non-empty list", doc, "steps", "steps")
    known = _KnownBdfs(fabric)
    steps = [_step(v, i + 1, s, steps_raw, i, known) for i, s in enumerate(steps_raw)]
    start = None if doc.get("flb") is None else \
        faults.parse_start(v, doc["flb"], doc, base_dir)
    return Scenario(file, name, desc, fabric, ref, profile, cmdline, steps, start)


def _profile(v, value, obj, key):
    if value is None:
        return None
    from pcilu_cli.abi.profiles import get_profile
    v.str_(value, "profile", obj, key)
    try:
        return get_profile(value).name
    except PcIluError as e:
        v.err(e.message, obj, key, "profile")


def _profile_or_kernel(v, obj):
    """``profile: P`` or ``kernel: IMAGE`` (a kernel build, path relative to the scenario:
    its profile as `pcilu kernel` finds it)."""
    if obj.get("profile") is not None and obj.get("kernel") is not None:
        v.err("give 'profile' or 'kernel', not both", obj, "kernel", "kernel")
    if obj.get("kernel") is None:
        return _profile(v, obj.get("profile"), obj, "profile")
    image = v.str_(obj["kernel"], "kernel", obj, "kernel")
    from pcilu_cli.abi.kernel_image import profile_for
    try:
        return profile_for(Path(getattr(v, "base_dir", ".")) / image)[0]
    except PcIluError as e:
        v.err(f"kernel {image}: {e.one_line()}", obj, "kernel", "kernel")


def _load_fabric(v, doc, text, base_dir):
    fab = doc["fabric"]
    if isinstance(fab, str):
        from pcilu_cli.fabric import load_fabric
        fpath = Path(base_dir) / fab
        try:
            return load_fabric(fpath), fab
        except BadInput as e:
            # the fabric's own message names its file and line; say who referred to it
            raise BadInput(f"fabric {fab!r}: {e.message}", file=v.file,
                           line=line_of(doc, "fabric"), field="fabric") from None
    if not isinstance(fab, dict):
        v.err(f"fabric must be a path or a mapping, not {_tname(fab)}", doc, "fabric", "fabric")
    from pcilu_cli.fabric.yamlfmt import load_yaml_text
    # feed the fabric loader the inline block itself, padded so that its line numbers are
    # this file's line numbers
    lines = text.splitlines()
    first = fab.line - 1
    last = _block_end(lines, first, doc, "fabric")
    block = lines[first:last]
    indent = min((len(ln) - len(ln.lstrip()) for ln in block if ln.strip()), default=0)
    body = "\n" * first + "\n".join(ln[indent:] for ln in block) + "\n"
    if fab.line == line_of(doc, "fabric"):          # flow style: `fabric: {…}` on one line
        import yaml
        body = "\n" * first + yaml.safe_dump(_plain(fab), sort_keys=False)
    return load_yaml_text(body, v.file), "(inline)"


def _block_end(lines, first, doc, key):
    """Index of the first line after the value of top-level ``key`` (the next top-level key)."""
    later = sorted(ln for k, ln in doc.lines.items() if ln - 1 > first)
    return (later[0] - 1) if later else len(lines)


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return x


class _KnownBdfs:
    """The functions a step may name: the fabric's (by file name or current address) plus
    hardware hot-added by earlier steps."""

    def __init__(self, fabric):
        self.fabric = fabric
        self.added: set[str] = set()

    def __contains__(self, bdf: str) -> bool:
        from pcilu_cli.abi.bdf import parse_bdf
        if bdf in self.added or self.fabric.has_uid(bdf):
            return True
        return self.fabric.route(*parse_bdf(bdf)) is not None


def _known(v, known, bdf, obj, key, where):
    if bdf not in known:
        v.err(f"{where}: unknown BDF {bdf}: no function of the fabric has that address "
              f"({len(known.fabric)} functions)", obj, key, where)
    return bdf


def _step(v, index, s, parent, pix, known) -> Step:
    line = line_of(parent, pix)
    if not isinstance(s, dict) or not s:
        v.err(f"step {index} must be a mapping with one action "
              f"({', '.join(a for a in ACTIONS if a != 'check')}) and/or 'expect'", parent, pix)
    acts = [k for k in s if k in ACTIONS and k != "check"]
    unknown = [k for k in s if k not in ACTIONS and k not in STEP_META]
    if unknown:
        v.err(f"step {index}: unknown key {unknown[0]!r} (actions: "
              f"{', '.join(a for a in ACTIONS if a != 'check')}; also: name, expect, note)",
              s, unknown[0], "steps")
    if len(acts) > 1:
        v.err(f"step {index}: one action per step, found {', '.join(acts)}", s, acts[1], "steps")
    if not acts and "expect" not in s:
        v.err(f"step {index}: no action and no 'expect'", s)
    action = acts[0] if acts else "check"
    args = _action_args(v, action, s.get(action), s, action, known, index)
    step = Step(index, action, args, line,
                name=v.str_(s.get("name"), "name", s, "name", allow_none=True),
                note=v.str_(s.get("note"), "note", s, "note", allow_none=True))
    ex = s.get("expect")
    if ex is not None:
        items = ex if isinstance(ex, list) else [ex]
        container = ex if isinstance(ex, list) else s
        for i, item in enumerate(items):
            step.expect += _expectations(v, item, container, i if isinstance(ex, list)
                                         else "expect", step, known)
    return step


def _where(index, action):
    return f"step {index} ({action})"


def _action_args(v, action, a, s, key, known, index) -> dict:
    w = _where(index, action)
    if action in faults.ACTIONS:
        return faults.parse(v, action, a, s, key, known, index, _known)
    if action in ("preserve", "unpreserve"):
        if isinstance(a, dict):
            allowed = {"bdf", "session", "token"} if action == "preserve" else {"bdf", "session"}
            v.keys(a, allowed, w, s, key)
            if "bdf" not in a:
                v.err(f"{w}: missing 'bdf'", a)
            out = {"bdf": _known(v, known, v.bdf(a["bdf"], w, a, "bdf"), a, "bdf", w),
                   "session": v.str_(a.get("session"), "session", a, "session", True)}
            if action == "preserve":
                out["token"] = None if a.get("token") is None else \
                    v.int_(a["token"], "token", a, "token", 0, 2**64 - 1)
            return out
        return {"bdf": _known(v, known, v.bdf(a, w, s, key), s, key, w), "session": None,
                "token": None}
    if action in ("finish", "hot-remove", "reset"):
        return {"bdf": _known(v, known, v.bdf(a, w, s, key), s, key, w)}
    if action == "reset-on-kexec":
        return {"bdfs": [_known(v, known, b, s, key, w) for b in v.bdfs(a, w, s, key)]}
    if action == "rescan":
        if a not in (None, True):
            v.err(f"{w} takes no argument", s, key)
        return {}
    if action == "kexec":
        if a is None or a is True:
            return {"profile": None, "cmdline": None}
        v.keys(a, {"profile", "kernel", "cmdline"}, w, s, key)
        return {"profile": _profile_or_kernel(v, a),
                "cmdline": v.str_(a.get("cmdline"), "cmdline", a, "cmdline", True)}
    if action == "power":
        if not isinstance(a, dict) or not a:
            v.err(f"{w} must map BDFs to power states ({', '.join(POWER_STATES)})", s, key)
        states = {}
        for b, st in a.items():
            bdf = _known(v, known, v.bdf(b, w, a, b), a, b, w)
            if st not in POWER_STATES:
                v.err(f"{w}: unknown power state {st!r} (one of {', '.join(POWER_STATES)})",
                      a, b, w)
            states[bdf] = st
        return {"states": states}
    if action == "hot-add":
        v.keys(a, HOT_ADD_KEYS, w, s, key)
        for req in ("bdf", "parent"):
            if req not in a:
                v.err(f"{w}: missing {req!r}", a, None, req)
        bdf = v.bdf(a["bdf"], w, a, "bdf")
        parent = None if a["parent"] is None else \
            _known(v, known, v.bdf(a["parent"], w, a, "parent"), a, "parent", w)
        from pcilu_cli.fabric.function_spec import FunctionSpec
        kinds = ("endpoint", "root_port", "upstream", "downstream", "pci_bridge", "rciep",
                 "pci_endpoint")
        kind = v.str_(a.get("kind", "endpoint"), "kind", a, "kind")
        if kind not in kinds:
            v.err(f"{w}: kind {kind!r} is not one of {', '.join(kinds)}", a, "kind", "kind")
        spec = FunctionSpec(uid=bdf, parent=parent, kind=kind,
                            vendor=v.int_(a.get("vendor", 0x1234), "vendor", a, "vendor", 0,
                                          0xFFFF),
                            device=v.int_(a.get("device", 0x0001), "device", a, "device", 0,
                                          0xFFFF),
                            class_code=None if a.get("class") is None else
                            v.int_(a["class"], "class", a, "class", 0, 0xFFFFFF),
                            bus_master=None if a.get("bus_master") is None else
                            v.bool_(a["bus_master"], "bus_master", a, "bus_master"))
        known.added.add(bdf)
        return {"bdf": bdf, "parent": parent, "spec": spec}
    return {}


# ---- expectations ---------------------------------------------------------------------------

# kind -> argument shape
_BDF_LIST = {"incoming", "not-incoming", "outgoing", "not-outgoing", "enumerated",
             "not-enumerated", "bus-master", "no-bus-master", "acs-inherited",
             "not-acs-inherited", "ari-inherited", "not-ari-inherited", "buses-unchanged"}
_BDF_INT = {"refcount": (0, 0xFFFF), "acs-ctrl": (0, 0xFFFF)}
_BDF_BOOL = {"ari-forwarding"}
EXPECTATIONS = sorted(_BDF_LIST | set(_BDF_INT) | _BDF_BOOL |
                      {"buses", "refused", "panic", "log", "no-log", "pci-ser", "handover",
                       "count", "phase"} | faults.EXPECT_KINDS)


def _expectations(v, item, container, ckey, step, known) -> list:
    w = step.label
    if isinstance(item, str):           # bare word: `- panic` is not allowed; be explicit
        v.err(f"{w}: an expectation is a one-key mapping such as "
              f"'incoming: 0000:01:00.0', not {item!r}", container, ckey, "expect")
    if not isinstance(item, dict) or len(item) != 1:
        v.err(f"{w}: each expectation must be a mapping with exactly one key (one of "
              f"{', '.join(EXPECTATIONS)})", container, ckey, "expect")
    (kind, arg), = item.items()
    line = line_of(item, kind)
    if kind not in EXPECTATIONS:
        v.err(f"{w}: unknown expectation {kind!r} (one of {', '.join(EXPECTATIONS)})",
              item, kind, "expect")
    if kind in ("refused", "panic") and not ACTIONS[step.action]:
        v.err(f"{w}: '{kind}' only applies to steps that run in the kernel", item, kind, kind)
    if kind == "refused" and step.action in ("kexec", "rescan"):
        v.err(f"{w}: {step.action} is not refused by the kernel (expect 'panic' instead?)",
              item, kind, kind)
    ew = f"{w}: {kind}"

    def E(a, text):
        return Expectation(kind, a, line, text)

    if kind in faults.EXPECT_KINDS:
        return faults.parse_expectation(v, kind, arg, item, ew, step, E, _matcher)
    if kind in _BDF_LIST:
        if kind == "buses-unchanged" and arg == "all":
            return [E("all", "bus numbers of every bridge unchanged")]
        return [E(_known(v, known, b, item, kind, ew), _TEXT[kind].format(bdf=b))
                for b in v.bdfs(arg, ew, item, kind)]
    if kind in _BDF_INT or kind in _BDF_BOOL or kind == "buses":
        if not isinstance(arg, dict) or not arg:
            v.err(f"{ew} must map BDFs to values", item, kind, kind)
        out = []
        for b, val in arg.items():
            bdf = _known(v, known, v.bdf(b, ew, arg, b), arg, b, ew)
            if kind in _BDF_INT:
                lo, hi = _BDF_INT[kind]
                val = v.int_(val, f"{ew} {bdf}", arg, b, lo, hi)
                txt = (f"{bdf} outgoing refcount {val}" if kind == "refcount"
                       else f"{bdf} ACS Control {val:#06x}")
            elif kind in _BDF_BOOL:
                val = v.bool_(val, f"{ew} {bdf}", arg, b)
                txt = f"{bdf} ARI Forwarding {'enabled' if val else 'disabled'}"
            else:
                val = _bus_range(v, val, f"{ew} {bdf}", arg, b)
                txt = (f"{bdf} bus numbers unchanged" if val == "unchanged"
                       else f"{bdf} bus numbers {val[0]:02x}-{val[1]:02x}")
            out.append(Expectation(kind, (bdf, val), line_of(arg, b), txt))
        return out
    if kind == "refused":
        if isinstance(arg, str):
            arg = {"errno": arg}
        v.keys(arg, {"errno", "message"}, ew, item, kind)
        en = v.str_(arg.get("errno"), "errno", arg, "errno")
        import errno as _errno
        if not en.startswith("E") or not hasattr(_errno, en):
            v.err(f"{ew}: {en!r} is not an errno name such as EBUSY", arg, "errno", "errno")
        msg = v.str_(arg.get("message"), "message", arg, "message", True)
        return [E({"errno": en, "message": msg}, f"refused with -{en}" +
                  (f" ({msg!r})" if msg else ""))]
    if kind == "panic":
        m = _matcher(v, arg if arg is not None else {"regex": ".*"}, ew, item, kind,
                     allow_scope=False)
        return [E(m, f"the kernel panics with {m['desc']}" if arg is not None
                  else "the kernel panics")]
    if kind in ("log", "no-log"):
        items = arg if isinstance(arg, list) else [arg]
        cont = arg if isinstance(arg, list) else item
        out = []
        for i, it in enumerate(items):
            m = _matcher(v, it, ew, cont, i if isinstance(arg, list) else kind)
            scope = "" if m["scope"] == "step" else " (this generation)"
            out.append(Expectation(kind, m, line_of(cont, i if isinstance(arg, list) else kind),
                                   ("a log line " if kind == "log" else "no log line ")
                                   + m["desc"] + scope))
        return out
    if kind == "pci-ser":
        ps = _pci_ser(v, arg, ew, item, kind, known)
        return [E(ps, ps["desc"])]
    if kind == "handover":
        st = v.str_(arg, ew, item, kind)
        return [E(st, f"hand-over status {st!r}")]
    if kind == "phase":
        st = v.str_(arg, ew, item, kind)
        if st not in ("running", "frozen", "panicked"):
            v.err(f"{ew}: {st!r} is not running, frozen or panicked", item, kind, kind)
        return [E(st, f"phase {st}")]
    if kind == "count":
        v.keys(arg, COUNT_KEYS, ew, item, kind)
        return [Expectation(kind, (k, v.int_(n, f"{ew} {k}", arg, k, 0, 1 << 24)),
                            line_of(arg, k), f"{n} {k.replace('_', '-')} devices")
                for k, n in arg.items()]
    raise AssertionError(kind)  # pragma: no cover


_TEXT = {
    "incoming": "{bdf} incoming", "not-incoming": "{bdf} not incoming",
    "outgoing": "{bdf} outgoing", "not-outgoing": "{bdf} not outgoing",
    "enumerated": "{bdf} enumerated", "not-enumerated": "{bdf} not enumerated",
    "bus-master": "{bdf} keeps Bus Master", "no-bus-master": "{bdf} has Bus Master off",
    "acs-inherited": "{bdf} ACS Control inherited",
    "not-acs-inherited": "{bdf} ACS Control not inherited",
    "ari-inherited": "{bdf} ARI Forwarding inherited",
    "not-ari-inherited": "{bdf} ARI Forwarding not inherited",
    "buses-unchanged": "{bdf} bus numbers unchanged",
}


def _bus_range(v, val, where, obj, key):
    if val == "unchanged":
        return val
    if isinstance(val, str):
        mm = re.fullmatch(r"([0-9a-fA-F]{1,2})-([0-9a-fA-F]{1,2})", val.strip())
        if mm:
            return int(mm.group(1), 16), int(mm.group(2), 16)
    if isinstance(val, list) and len(val) == 2:
        return (v.int_(val[0], where, obj, key, 0, 255), v.int_(val[1], where, obj, key, 0, 255))
    v.err(f"{where}: expected 'unchanged', \"SS-SS\" (hex) or [secondary, subordinate], "
          f"not {val!r}", obj, key, where)


def _matcher(v, arg, where, obj, key, allow_scope=True) -> dict:
    """A log/panic text matcher: a substring, or {text|regex, scope}."""
    if isinstance(arg, str):
        return {"text": arg, "regex": None, "scope": "step", "desc": f"containing {arg!r}"}
    allowed = {"text", "regex", "scope"} if allow_scope else {"text", "regex"}
    v.keys(arg, allowed, where, obj, key)
    if ("text" in arg) == ("regex" in arg):
        v.err(f"{where}: give exactly one of 'text' (substring) or 'regex'", arg)
    scope = arg.get("scope", "step")
    if scope not in LOG_SCOPES:
        v.err(f"{where}: scope must be one of {', '.join(LOG_SCOPES)}", arg, "scope", "scope")
    if "text" in arg:
        t = v.str_(arg["text"], "text", arg, "text")
        return {"text": t, "regex": None, "scope": scope, "desc": f"containing {t!r}"}
    r = v.str_(arg["regex"], "regex", arg, "regex")
    try:
        rx = re.compile(r)
    except re.error as e:
        v.err(f"{where}: bad regex {r!r}: {e}", arg, "regex", "regex")
    return {"text": None, "regex": rx, "scope": scope, "desc": f"matching /{r}/"}


def _pci_ser(v, arg, where, obj, key, known) -> dict:
    if arg is None or arg is False:
        arg = {"exists": False}
    v.keys(arg, PCI_SER_KEYS, where, obj, key)
    out = {"which": arg.get("which", "outgoing"), "exists": arg.get("exists", True)}
    if out["which"] not in ("outgoing", "incoming"):
        v.err(f"{where}: which must be outgoing or incoming", arg, "which", "which")
    v.bool_(out["exists"], "exists", arg, "exists")
    if "entries" in arg and "nr_devices" in arg:
        v.err(f"{where}: 'entries' and 'nr_devices' are the same thing; give one", arg)
    for k in ("nr_devices", "entries", "max_nr_devices"):
        if k in arg:
            out["nr_devices" if k == "entries" else k] = v.int_(arg[k], k, arg, k, 0, 1 << 24)
    if "slots" in arg:
        sl = arg["slots"]
        if not isinstance(sl, list):
            v.err(f"{where}: slots must be a list (one item per slot: a BDF, "
                  "{{bdf, refcount}} or null for a free slot)", arg, "slots", "slots")
        slots = []
        for i, it in enumerate(sl):
            if it is None:
                slots.append(None)
            elif isinstance(it, dict):
                v.keys(it, {"bdf", "refcount"}, f"{where} slot {i}", sl, i)
                slots.append((v.bdf(it.get("bdf"), f"slot {i}", it, "bdf"),
                              None if "refcount" not in it else
                              v.int_(it["refcount"], "refcount", it, "refcount", 1, 0xFFFF)))
            else:
                slots.append((v.bdf(it, f"{where} slot {i}", sl, i), None))
        out["slots"] = slots
    parts = []
    if not out["exists"]:
        parts.append("does not exist")
    if "nr_devices" in out:
        parts.append(f"has {out['nr_devices']} entries")
    if "max_nr_devices" in out:
        parts.append(f"has room for {out['max_nr_devices']}")
    if "slots" in out:
        parts.append("slot layout " + ", ".join(
            "free" if s is None else s[0] + (f"({s[1]})" if s[1] is not None else "")
            for s in out["slots"]))
    if not parts:
        parts.append("exists")
    out["desc"] = f"{out['which']} pci_ser " + "; ".join(parts)
    return out
