# SPDX-License-Identifier: GPL-2.0-only
"""What changed between two generations (state files) or two hand-over blobs.

State files are compared device by device, keyed by the fabric's name for each function (so a
renumbered device is one device whose address changed), over the ``enumerate`` fields:
address, enumerated, incoming/outgoing, outgoing refcount, Bus Master, bus numbers, ACS
Control (and whether inherited), ARI Forwarding (and whether inherited); plus generation,
profile, phase, panic and hand-over status. Raw ``struct pci_ser`` blobs are compared entry
by entry (keyed by BDF: preserved or not, slot, refcount) and by header; LUO FLB pages record
by record (keyed by compatible: data PA, count).

The document: ``{"kind": "diff", "a", "b", "a_kind", "b_kind", "changed": N, "changes":
[{"device" (or null for the whole generation/blob), "field", "a", "b"}]}``.
"""
from __future__ import annotations

from pcilu_cli.errors import BadInput

DEVICE_FIELDS = ("bdf", "kind", "enumerated", "incoming", "was_incoming", "outgoing", "outgoing_refcount",
                 "bus_master", "secondary", "subordinate", "acs_ctrl", "acs_inherited",
                 "ari_forwarding", "ari_inherited")
GEN_FIELDS = ("generation", "profile", "phase", "panic")


def load_side(path: str, profile=None) -> tuple[str, dict]:
    """("state", enumerate report) | ("pci_ser", inspect JSON) | ("luo_flb_page", JSON)."""
    from pcilu_cli.state.files import open_input, refuse
    inp = open_input(path)
    data, name = inp.data, inp.name
    if inp.kind == "elf":
        from pcilu_cli.state import Machine
        m = Machine.from_bytes(data, file=name)
        return "state", m.report()
    if inp.kind == "text":
        from pcilu_cli.abi.detect import _text_kind
        raise BadInput(f"a text file ({_text_kind(data)}), not a state file or hand-over blob",
                       file=name)
    if profile is None and inp.kind == "luo_flb_page":
        from pcilu_cli.abi.detect import flb_page_to_json
        return "luo_flb_page", flb_page_to_json(data, name)
    if profile is None and inp.kind != "pci_ser":
        raise refuse(inp, "a state file, struct pci_ser or LUO FLB page `diff` compares",
                     hint="--profile P compares it as that profile's struct pci_ser")
    from pcilu_cli.abi import pci
    prof = profile or inp.ident.facts["profile"]
    ser = pci.decode_pci_ser(data, prof, file=name)
    for d in ser.diagnostics:
        if not d.kernel_accepts:
            raise d.as_error()
    return "pci_ser", pci.pci_ser_to_json(ser)


def diff_files(a: str, b: str, *, profile=None) -> dict:
    ka, da = load_side(a, profile)
    kb, db = load_side(b, profile)
    if ka != kb:
        raise BadInput(f"cannot compare a {ka.replace('_', ' ')} ({a}) with a "
                       f"{kb.replace('_', ' ')} ({b}); compare like with like (`pcilu export` "
                       "writes a generation's FLB blobs)", file=b)
    changes = {"state": diff_reports, "pci_ser": diff_pci_ser,
               "luo_flb_page": diff_flb_pages}[ka](da, db)
    return {"kind": "diff", "a": a, "b": b, "a_kind": ka, "b_kind": kb,
            "changed": len(changes), "changes": changes}


def _ch(device, field, a, b):
    return {"device": device, "field": field, "a": a, "b": b}


def diff_reports(ra: dict, rb: dict) -> list:
    out = [_ch(None, f, ra.get(f), rb.get(f)) for f in GEN_FIELDS if ra.get(f) != rb.get(f)]
    ha, hb = (ra.get("kho") or {}).get("status"), (rb.get("kho") or {}).get("status")
    if ha != hb:
        out.append(_ch(None, "handover", ha, hb))
    da = {d.get("uid") or d["bdf"]: d for d in ra["devices"]}
    db = {d.get("uid") or d["bdf"]: d for d in rb["devices"]}
    for key in sorted(set(da) | set(db), key=_sort_key):
        x, y = da.get(key), db.get(key)
        if x is None or y is None:
            out.append(_ch(key, "present", x is not None, y is not None))
            continue
        for f in DEVICE_FIELDS:
            if x.get(f) != y.get(f):
                out.append(_ch(key, f, x.get(f), y.get(f)))
    return out


def diff_pci_ser(a: dict, b: dict) -> list:
    out = [_ch(None, f, a.get(f), b.get(f))
           for f in ("profile", "compatible", "layout", "max_nr_devices", "version",
                     "nr_devices")
           if a.get(f) != b.get(f)]
    ea = {e["bdf"]: e for e in a["devices"]}
    eb = {e["bdf"]: e for e in b["devices"]}
    for bdf in sorted(set(ea) | set(eb), key=_sort_key):
        x, y = ea.get(bdf), eb.get(bdf)
        if x is None or y is None:
            out.append(_ch(bdf, "preserved", x is not None, y is not None))
            continue
        for f in ("slot", "refcount"):
            if x[f] != y[f]:
                out.append(_ch(bdf, f, x[f], y[f]))
    return out


def diff_flb_pages(a: dict, b: dict) -> list:
    out = []
    ra = {r["name"]: r for r in a["flbs"]}
    rb = {r["name"]: r for r in b["flbs"]}
    for n in sorted(set(ra) | set(rb)):
        x, y = ra.get(n), rb.get(n)
        if x is None or y is None:
            out.append(_ch(n, "present", x is not None, y is not None))
            continue
        for f in ("data", "count"):
            if x[f] != y[f]:
                out.append(_ch(n, f, x[f], y[f]))
    return out


def _sort_key(name):
    from pcilu_cli.abi.bdf import parse_bdf
    try:
        return (0, parse_bdf(name), "")
    except (ValueError, TypeError):
        return (1, (0, 0, 0), str(name))


def fmt_value(field, v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if field in ("acs_ctrl",):
        return f"{v:#06x}"
    if field in ("secondary", "subordinate"):
        return f"{v:02x}"
    if field == "data":
        return f"{v:#x}"
    return str(v)
