# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu plan``: what preserving a set of devices would do, without writing anything.

The plan does not restate the kernel's rules: it runs the modelled kernel's own
``preserve`` (pci_liveupdate_preserve() behind a vfio-pci file in a LUO session) on a
throwaway generation — a fresh boot of the fabric or capture, or the loaded state file, which
is never saved — device after device, and records what happened. A refusal rolls back inside
the kernel, so the devices after it are planned against the same state; the ones that were
accepted stay, so bridge refcounts, ``struct pci_ser`` slots and LUO session fill are those
the whole set would produce, in the order given.

A device the kernel never enumerated (below a CardBus bridge, or below a bridge that got no
child bus) cannot be preserved: the driver would have no ``struct pci_dev`` to hand over;
the plan says -ENODEV and names the bridge.

API:
    plan(machine, bdfs, *, session="pcilu"|"auto", source=..., drivers=None) -> dict
    next_auto_session(kernel) -> str   the session ``--session auto`` puts the next file in
"""
from __future__ import annotations

from pcilu_cli.abi.luo import LUO_FILE_MAX
from pcilu_cli.abi.bdf import device_key, format_bdf, parse_bdf
from pcilu_cli.errors import BadInput, KernelRefusal

AUTO = "auto"
AUTO_PREFIX = "pcilu-"


def file_max(profile) -> int | None:
    """Files one LUO session can hold: LUO_FILE_MAX for the FDT LUO (luo-v1: one 2-page
    array per session, kho-luo-abi.md §2.3); the chained luo-v5 has no such cap."""
    return LUO_FILE_MAX if profile.luo_is_fdt else None


def next_auto_session(kernel) -> str:
    """``--session auto``: the first of pcilu-1, pcilu-2, ... that has room for one more
    file (every file in pcilu-1 when sessions are unlimited)."""
    cap = file_max(kernel.profile)
    i = 1
    while True:
        name = f"{AUTO_PREFIX}{i}"
        if cap is None or len(kernel.luo.sessions.get(name, ())) < cap:
            return name
        i += 1


def _why_not_enumerated(m, bdf: str) -> tuple[str, str | None]:
    """(reason, bridge) for a function the fabric has and the kernel did not enumerate."""
    d, b, df = parse_bdf(bdf)
    fn = m.fabric.route(d, b, df)
    if fn is None:
        return "no function answers at this address", None
    up = fn.upstream if fn.physfn is None else fn.physfn.upstream
    chain = []
    while up is not None:
        chain.append(up)
        up = up.upstream
    for br in reversed(chain):           # the highest bridge that stops the scan
        where = m.fabric.current_bdf(br)
        name = format_bdf(*where) if where else br.uid
        if br.is_cardbus:
            return (f"below the CardBus bridge {name}: CONFIG_PCI_LIVEUPDATE depends on "
                    "!CARDBUS, and this kernel does not scan below it", name)
        key = device_key(*where) if where else None
        kd = m.kernel.devices.get(key) if key is not None else None
        if kd is None or kd.subordinate is None:
            return (f"below the bridge {name}, which has no child bus in this kernel (the "
                    "scan skipped it)", name)
    return "not enumerated by this kernel", None


def _reason(err: KernelRefusal, bdf: str) -> str:
    text = str(err.message).split(": ", 1)[-1] if err.bdf else str(err.message)
    text = text.split(f"-{err.errno_name}: ", 1)[-1]
    km = err.kernel_message or ""
    # the kernel logs the refusal on the device that failed, which may be an upstream port
    other = km.split(" ")[1].rstrip(":") if km.count(" ") >= 2 else ""
    if other and other != bdf and ":" in other and "." in other:
        text += f" (on the upstream port {other})"
    return text


def plan(m, bdfs, *, session: str | None = None, source: str = "", source_kind: str = "",
         drivers: dict | None = None) -> dict:
    """Preserve ``bdfs`` one by one on ``m`` (which the caller never saves) and report."""
    from pcilu_cli.kernel.handover import DEFAULT_SESSION
    k = m.kernel
    if k is None:
        raise BadInput("this generation has no running kernel", file=source)
    session = session or DEFAULT_SESSION
    report = {d["bdf"]: d for d in m.report()["devices"] if d.get("bdf")}
    before = {b: d["outgoing_refcount"] for b, d in report.items() if d["outgoing"]}
    devices = []
    selected = set()
    for bdf in bdfs:
        try:
            dom, bus, devfn = parse_bdf(bdf)
        except ValueError as e:
            raise BadInput(f"{bdf!r} is not a BDF: {e}", field="BDF") from None
        name = format_bdf(dom, bus, devfn)
        selected.add(name)
        entry = {"bdf": name, "kind": (report.get(name) or {}).get("kind"),
                 "driver": (drivers or {}).get(name), "preservable": False, "errno": None,
                 "reason": "", "kernel_message": None, "session": None, "path": []}
        key = device_key(dom, bus, devfn)
        if key not in k.devices:
            if m.fabric.route(dom, bus, devfn) is None:
                raise BadInput(f"unknown BDF {name}: no function answers there in this "
                               f"fabric ({len(m.fabric)} functions)", field="BDF")
            entry["errno"] = "ENODEV"
            entry["reason"], _br = _why_not_enumerated(m, name)
            devices.append(entry)
            continue
        sname = next_auto_session(k) if session == AUTO else session
        try:
            r = m.preserve(name, session=sname)
        except KernelRefusal as e:
            entry["errno"] = e.errno_name
            entry["reason"] = _reason(e, name)
            entry["kernel_message"] = e.kernel_message
            devices.append(entry)
            continue
        entry.update(preservable=True, session=r["session"],
                     reason="the kernel accepts it",
                     path=[{"bdf": p["bdf"], "refcount": p["refcount"]} for p in r["path"]])
        devices.append(entry)
    after = {d["bdf"]: d for d in m.report()["devices"] if d.get("bdf")}
    bridges = [{"bdf": b, "kind": d["kind"], "refcount": d["outgoing_refcount"],
                "refcount_before": before.get(b, 0)}
               for b, d in after.items()
               if d["outgoing"] and b not in selected
               and d["outgoing_refcount"] != before.get(b, 0)]
    ser = k.pci_flb.out_obj
    slots = ser.nr_devices if ser is not None else 0
    max_nr = getattr(ser, "max_nr", None) if ser is not None else None
    if ser is None:
        # nothing preserved: the first file would size it to every pci_dev present
        max_nr = len(k.devices) if m.profile.pci_layout == "flex" else None
    cap = file_max(m.profile)
    sessions = {name: len(files) for name, files in sorted(k.luo.sessions.items()) if files}
    nfiles = sum(sessions.values())
    ok = sum(1 for d in devices if d["preservable"])
    return {"kind": "plan", "source": source, "source_kind": source_kind,
            "profile": m.profile.name, "generation": m.generation,
            "session": session, "devices": devices, "bridges": bridges,
            "pci_ser": {"layout": m.profile.pci_layout, "slots_needed": slots,
                        "max_nr_devices": max_nr,
                        "fits": max_nr is None or slots <= max_nr},
            "luo": {"compatible": m.profile.luo_compatible, "file_max": cap, "files": nfiles,
                    "sessions_needed": (-(-nfiles // cap) if cap else min(nfiles, 1)),
                    "sessions": [{"name": n, "files": c} for n, c in sessions.items()]},
            "summary": {"selected": len(devices), "preservable": ok,
                        "refused": len(devices) - ok}}
