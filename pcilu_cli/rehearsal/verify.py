# SPDX-License-Identifier: GPL-2.0-only
"""Prediction against reality (``pcilu verify``): hold the generation pcilu booted against what
the real host showed after its kexec.

PREDICTED is a generation (a state file: what pcilu's kernel enumerated). ACTUAL is what the
real host left to look at, from one or more sources, each giving per-device config space
and/or kernel log lines:

* an ``lspci -xxxx`` (or ``-xxx``/``-x``) dump — config space of every function;
* a sysfs snapshot (directory or tar archive) or a capture archive (``pcilu capture``) —
  config space, and (a capture) the kernel log, bound drivers and power states;
* a kernel log file (``dmesg`` / ``journalctl -k`` output) — log lines.

Per device that either side shows, the facts compared are the ones the live-update series
decides at enumeration, all read from config space exactly as the enumerate report does:
``present``, ``identity`` (vendor:device), ``bus_numbers`` (primary/secondary/subordinate of
a bridge), ``bus_master`` (Command bit 2), ``acs_ctrl`` (ACS Control), ``ari_forwarding``
(Device Control 2 bit 5 of a downstream port), ``power_state`` (PMCSR).

What pcilu does not model is reported under ``unmodelled``, never as a divergence: drivers
(a driver that binds calls ``pci_set_master()`` and may runtime-suspend its device), so Bus
Master switched on, or a power state changed, on a device that was *not* preserved is
unmodelled — unless the capture says no driver is bound to it. The same facts on a preserved
(incoming) device are divergences: keeping them is what Live Update promises.

Log lines: every line the predicted kernel printed must be in the real log, compared as a
multiset (order-insensitive: the kernel's order across devices depends on scan and probe order,
which the series does not define), after dropping timestamps (``[    1.234567]``), syslog
levels (``<6>``), journal/syslog prefixes (``... kernel: ``), ``dmesg -x`` facility/level
prefixes, the driver name before a BDF (``vfio-pci 0000:01:00.0:`` → ``0000:01:00.0:``) and
the ``WARNING: `` mark of a WARN line. Real lines with the series' own words ("Live Update",
"liveupdate") that pcilu did not predict are divergences too. KHO/LUO boot lines are pcilu's
own wording (README, "Choices"): a missing one is unmodelled, not a divergence.

API:
    load_actual(paths) -> Actual                      (BadInput naming the file, exit 3)
    verify(sim, actual, *, predicted_name) -> dict    the ``verify --json`` document
    verify_paths(predicted, *actual_paths) -> dict    both, from paths (or a Machine)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pcilu_cli.errors import BadInput, UsageError

FIELDS = ("present", "identity", "bus_numbers", "bus_master", "acs_ctrl", "ari_forwarding",
          "power_state")
# the series' own words: a real line with them that pcilu did not predict is a divergence
SERIES_WORDS = re.compile(r"Live Update|liveupdate", re.I)

_LSPCI_HEAD = re.compile(r"^(?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]\s")
_LSPCI_HEX = re.compile(r"^00: [0-9a-fA-F]{2}( [0-9a-fA-F]{2}){15}\s*$")
_LEVEL = re.compile(r"^<\d{1,3}>")
_STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
_SYSLOG = re.compile(r"^(?:\w{3}\s+\d{1,2}\s+\d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+)\s+\S+\s+"
                     r"kernel:\s?")
_FACILITY = re.compile(r"^(?:kern|user|daemon|syslog)\s*:\s*(?:emerg|alert|crit|err|warn|"
                       r"notice|info|debug)\s*:\s?")
_DRIVER_BDF = re.compile(r"^\S+ ([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]): ")


def normalize_line(line: str) -> str:
    """A kernel log line without what differs between printers of the same message."""
    s = line.rstrip("\r\n")
    s = _LEVEL.sub("", s)
    s = _SYSLOG.sub("", s)
    s = _STAMP.sub("", s)
    s = _FACILITY.sub("", s)
    s = _STAMP.sub("", s)
    if s.startswith("kernel: "):
        s = s[len("kernel: "):]
    if s.startswith("WARNING: "):
        s = s[len("WARNING: "):]
    s = _DRIVER_BDF.sub(lambda m: m.group(1).lower() + ": ", s)
    return " ".join(s.split())


@dataclass
class Actual:
    """What the real host showed: a fabric (config space), log lines, and what a capture
    adds (bound drivers, power states as sysfs reported them)."""
    fabric: object = None
    fabric_source: str | None = None
    log: list | None = None                 # raw lines, or None: no log given
    log_sources: list = field(default_factory=list)
    drivers: dict | None = None             # bdf -> driver name ("" = none); None: unknown
    sources: list = field(default_factory=list)


def _looks_like_lspci(text: str) -> bool:
    lines = [ln for ln in text.splitlines()[:40] if ln.strip()]
    return len(lines) >= 2 and bool(_LSPCI_HEAD.match(lines[0])) and \
        any(_LSPCI_HEX.match(ln) for ln in lines[1:3])


def _capture_module():
    """The capture reader, when this pcilu has one (``pcilu capture``)."""
    try:
        from pcilu_cli.fabric import capture
    except ImportError:
        return None
    return capture


def load_actual(paths) -> Actual:
    if not paths:
        raise UsageError("verify needs at least one ACTUAL (an lspci -xxxx dump, a sysfs "
                         "snapshot or capture, and optionally a kernel log)")
    act = Actual()
    for p in paths:
        p = str(p)
        act.sources.append(p)
        path = Path(p)
        cap = _capture_module()
        if path.is_file() and cap is not None and cap.is_capture(path):
            _set_fabric(act, cap.load_capture(path), p)
            text = cap.member_text(path, "host/log")
            if text is not None:
                act.log = (act.log or []) + text.splitlines()
                act.log_sources.append(f"{p}:host/log")
            try:
                act.drivers = {k.lower(): v or "" for k, v in
                               cap.drivers_of(cap.read_manifest(path)).items()}
            except Exception:  # noqa: BLE001 - driver facts are optional
                act.drivers = None
            continue
        if path.is_dir() or (path.is_file() and path.suffix in (".tar", ".gz", ".tgz", ".bz2",
                                                                ".xz")):
            from pcilu_cli.fabric import load_fabric
            _set_fabric(act, load_fabric(path), p)
            continue
        from pcilu_cli.state.store import read_input
        data = read_input(p)
        from pcilu_cli.abi.formats import identify
        if identify(data[:4]).kind == "elf":
            raise BadInput("a state file is a prediction, not what a host showed: give it as "
                           "PREDICTED, and an lspci dump / capture / log as ACTUAL", file=p)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
            if "\x00" in text:
                raise BadInput("binary data: expected an lspci -xxxx dump, a sysfs snapshot "
                               "or capture, or a kernel log", file=p) from None
        if _looks_like_lspci(text):
            from pcilu_cli.fabric.lspci import parse_dump
            _set_fabric(act, parse_dump(text, p), p)
        else:
            act.log = (act.log or []) + text.splitlines()
            act.log_sources.append(p)
    if act.fabric is None:
        raise BadInput("no config space among the ACTUAL files (give an lspci -xxxx dump, a "
                       "sysfs snapshot or a capture)", file=", ".join(act.sources))
    return act


def _set_fabric(act: Actual, fab, name: str) -> None:
    if act.fabric is not None:
        raise BadInput(f"two sources of config space ({act.fabric_source} and {name}): give "
                       "one lspci dump, snapshot or capture", file=name)
    act.fabric, act.fabric_source = fab, name


# ---- facts ----------------------------------------------------------------------------------

def _addr(fabric, fn) -> str | None:
    from pcilu_cli.abi.bdf import format_bdf
    at = fabric.current_bdf(fn)
    return None if at is None else format_bdf(*at)


def facts(fn) -> dict:
    """The compared facts of one function, read from its config space."""
    d = {"identity": f"{fn.vendor:04x}:{fn.device:04x}", "bus_master": fn.bus_master,
         "power_state": fn.power_state,
         "bus_numbers": list(fn.bus_numbers()) if fn.is_bridge else None,
         "acs_ctrl": fn.acs_ctrl,
         "ari_forwarding": fn.ari_forwarding if fn.is_bridge and fn.pcie_cap else None,
         "_extended": fn.cfg.stored_length > 256}
    return d


def _show(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, list):
        return "/".join(f"{x:02x}" for x in v)
    if isinstance(v, int):
        return f"{v:#06x}"
    return "absent" if v is None else str(v)


def verify(sim, actual: Actual, *, predicted_name: str = "<predicted>") -> dict:
    """Compare the predicted generation ``sim`` (a pcilu_cli.state.Machine) with ``actual``."""
    rep = sim.report()
    pred_fab, act_fab = sim.fabric, actual.fabric
    predicted = {}                     # bdf -> (facts, report row)
    for d in rep["devices"]:
        if not d.get("enumerated") or not d.get("bdf"):
            continue
        fn = pred_fab.by_uid(d["uid"]) if pred_fab.has_uid(d["uid"]) else None
        if fn is not None:
            predicted[d["bdf"].lower()] = (facts(fn), d)
    real = {}
    for fn in act_fab.functions():
        a = _addr(act_fab, fn)
        if a is not None:
            real[a.lower()] = facts(fn)

    div, unmod, notcmp = [], [], []

    def diverge(dev, fld, p, a, why=None):
        div.append({"device": dev, "field": fld, "predicted": p, "actual": a,
                    "message": f"{dev}: {fld}: predicted {_show(p)}, actual {_show(a)}"
                               + (f" ({why})" if why else "")})

    drivers = actual.drivers
    for bdf in sorted(set(predicted) | set(real)):
        if bdf not in real:
            diverge(bdf, "present", True, False, "pcilu's kernel enumerated it; the host "
                    "does not show it")
            continue
        if bdf not in predicted:
            diverge(bdf, "present", False, True, "the host shows a function pcilu's kernel "
                    "did not enumerate")
            continue
        p, row = predicted[bdf]
        a = real[bdf]
        if p["identity"] != a["identity"]:
            diverge(bdf, "identity", p["identity"], a["identity"], "another device at this "
                    "address: is this the same host?")
            continue
        kept = bool(row.get("incoming") or row.get("was_incoming"))
        drv = None if drivers is None else drivers.get(bdf, "")
        for fld in ("bus_numbers", "bus_master", "acs_ctrl", "ari_forwarding", "power_state"):
            pv, av = p[fld], a[fld]
            if fld == "acs_ctrl" and pv is not None and av is None and not a["_extended"]:
                notcmp.append({"device": bdf, "field": fld, "predicted": pv,
                               "reason": "the actual dump has no extended config space "
                                         "(use lspci -xxxx)"})
                continue
            if pv == av:
                continue
            if fld in ("bus_master", "power_state") and not kept and drv != "":
                who = f"driver {drv} is bound" if drv else "a driver may have bound"
                unmod.append({"device": bdf, "field": fld, "predicted": pv, "actual": av,
                              "reason": f"{who}: pcilu does not model drivers "
                                        f"({'pci_set_master()' if fld == 'bus_master' else 'runtime PM'} "
                                        "after bind); the device was not preserved"})
                continue
            diverge(bdf, fld, pv, av, "a preserved device" if kept else None)

    log = _compare_log(sim, rep, actual, diverge, unmod)
    passed = not div
    return {"kind": "verify", "predicted": predicted_name, "actual": actual.sources,
            "generation": rep["generation"], "profile": rep["profile"], "passed": passed,
            "devices": len(set(predicted) | set(real)), "fields": list(FIELDS),
            "compared_devices": sorted(set(predicted) | set(real)),
            "divergences": div, "unmodelled": unmod, "not_compared": notcmp, "log": log}


def _compare_log(sim, rep, actual, diverge, unmod) -> dict:
    from collections import Counter
    boot = len(sim.boot_messages)
    lines = rep["messages"]
    if actual.log is None:
        return {"compared": False, "reason": "no kernel log among the ACTUAL files",
                "predicted": len(lines)}
    have = Counter(normalize_line(ln) for ln in actual.log if ln.strip())
    missing, matched = [], 0
    predicted_norm = Counter()
    for i, ln in enumerate(lines):
        n = normalize_line(ln)
        predicted_norm[n] += 1
        if have[n] > 0:
            have[n] -= 1
            matched += 1
            continue
        if i < boot:
            unmod.append({"device": None, "field": "log", "predicted": ln, "actual": None,
                          "reason": "a KHO/LUO boot line in pcilu's own wording"})
            continue
        missing.append(ln)
        diverge("kernel log", "log", ln, None, "predicted line not in the real log")
    unexpected = []
    for n, c in have.items():
        if c > 0 and SERIES_WORDS.search(n) and n not in predicted_norm:
            for _ in range(c):
                unexpected.append(n)
                diverge("kernel log", "log", None, n, "a Live Update line pcilu did not "
                        "predict")
        elif c > 0 and SERIES_WORDS.search(n):
            for _ in range(c):
                unexpected.append(n)
                diverge("kernel log", "log", None, n, "printed more often than predicted")
    return {"compared": True, "sources": actual.log_sources, "predicted": len(lines),
            "matched": matched, "missing": missing, "unexpected": unexpected}


def verify_paths(predicted, *actual_paths) -> dict:
    """``predicted``: a state file path or a Machine (API or state layer)."""
    sim = getattr(predicted, "sim", predicted)
    name = "<machine>"
    if isinstance(predicted, (str, Path)):
        from pcilu_cli.state import load
        name = str(predicted)
        sim = load(name)
    act = load_actual([str(p) for p in actual_paths])
    return verify(sim, act, predicted_name=name)





def to_junit(doc: dict) -> bytes:
    """JUnit XML: one testsuite, one testcase per device and field compared (``<failure>`` for
    a divergence, ``<skipped>`` for what pcilu does not model or could not compare) and one
    for the kernel log."""
    import xml.etree.ElementTree as ET
    notes: dict = {}
    for kind in ("divergences", "unmodelled", "not_compared"):
        for d in doc[kind]:
            notes.setdefault((d.get("device") or "kernel log", d["field"]), []).append((kind, d))
    root = ET.Element("testsuites", name="pcilu verify")
    suite = ET.SubElement(root, "testsuite", name=f"verify {doc['predicted']}")
    n = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    cases = [(dev, fld) for dev in doc["compared_devices"] for fld in FIELDS]
    cases.append(("kernel log", "log"))
    for dev, fld in cases:
        tc = ET.SubElement(suite, "testcase", name=f"{dev}: {fld}", classname="verify",
                           time="0")
        n["tests"] += 1
        got = notes.get((dev, fld), [])
        fails = [d for k, d in got if k == "divergences"]
        if fails:
            f = ET.SubElement(tc, "failure", message=fails[0]["message"], type="Divergence")
            f.text = "\n".join(d["message"] for d in fails)
            n["failures"] += 1
        elif got or (fld == "log" and not doc["log"].get("compared")):
            why = got[0][1].get("reason") if got else doc["log"].get("reason")
            ET.SubElement(tc, "skipped", message=why or "not compared")
            n["skipped"] += 1
    for k, v in n.items():
        suite.set(k, str(v))
        root.set(k, str(v))
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") \
        + b"\n"
__all__ = ["Actual", "load_actual", "verify", "verify_paths", "normalize_line", "to_junit",
           "FIELDS"]
