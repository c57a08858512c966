# SPDX-License-Identifier: GPL-2.0-only
"""The shapes of a state file's two JSON documents, checked at load: the metadata note
(``NT_PCILU_METADATA``) and the kernel note's head (section 0 of ``NT_PCILU_KERNEL``).

What it models: the JSON document :meth:`~pcilu_cli.state.machine.Machine.metadata` writes —
the generation, its profile and phase, the hand-over that came in (``kho_in``, ``incoming``)
and the one being built (``kho_out``), the KHO allocator's pages, the boot messages. Every
value is read by some later step (a ``finish`` walks ``incoming.flbs``, a ``kexec`` packs
``generation`` and the allocator's addresses into the next hand-over, a save joins
``boot_messages``), so a crafted file with a list where an address was, or an address past
64 bits, would fail there as an internal error. :func:`check` refuses it at load instead,
naming the field: ``incoming.flbs[0][1]: expected an integer 0..2^64-1, got []``. The
kernel note's head (the kernel's own state: its LUO's FLBs and files, the incoming
``struct pci_ser``, the log) is checked the same way by :func:`check_kernel_head`.

Only the values' kinds and ranges are checked, for keys that are present (a missing key is
the reader's own concern, refused there as a corrupt record); what they mean is checked where
they are used (a profile's name by :func:`~pcilu_cli.abi.profiles.get_profile`, here turned
into bad input naming the file, not a usage error).
"""
from __future__ import annotations

from pcilu_cli.errors import BadInput

FIELD = "PCILU metadata note"
U64 = (0, (1 << 64) - 1)           # a physical address, a size
U32 = (0, (1 << 32) - 1)           # a u32 of the ABI (max_nr_devices, a version, a count)
SMALL = (0, (1 << 31) - 1)         # a page order, a generation, a format version, a call count
ANY = object()                     # not checked here


class _Opt:
    __slots__ = ("spec",)

    def __init__(self, spec):
        self.spec = spec


class _Values:
    """A JSON object whose keys are anything and whose values all have one shape."""
    __slots__ = ("spec",)

    def __init__(self, spec):
        self.spec = spec


class _Either:
    __slots__ = ("specs",)

    def __init__(self, *specs):
        self.specs = specs


def opt(spec):
    """``spec`` or null."""
    return _Opt(spec)


ERRNO = (-4095, 0)                 # a kernel return value: 0 or -errno
_ROW3 = (str, U64, U64)            # (name, physical address, size or count)
# KernelParams.to_dict(): the command line's switches and the words it did not know
PARAMS = {"assign_busses": bool, "noari": bool, "config_acs": opt(str),
          "disable_acs_redir": opt(str), "pcie_scan_all": bool, "noats": bool,
          "liveupdate": bool, "kho": bool, "iommu": bool, "dyndbg": bool, "cmdline": str,
          "ignored": [str]}
SHAPE = {
    "kind": str, "format": SMALL, "pcilu": str, "generation": SMALL, "profile": "profile",
    "phase": str, "panic": opt(str), "params": PARAMS,
    "kho_in": opt({"status": opt(str), "luo": opt(str), "root_pa": opt(U64),
                   "liveupdate_num": opt(U64), "messages": [str]}),
    "incoming": opt({"flbs": [_ROW3], "sessions": [(str, [(str, U64, U64)])]}),
    "kho_out": opt({"profile": "profile", "root_pa": opt(U64), "mem_map": opt(U64),
                    "subtrees": [_ROW3], "metadata_pa": opt(U64), "luo_pa": opt(U64),
                    "session_header_pa": opt(U64), "flbs_pa": opt(U64),
                    "liveupdate_num": opt(U64), "finalized": bool}),
    "allocator": opt({"tracker": str, "root_pa": U64, "preserved": [(U64, SMALL)],
                      "allocated": [U64], "incoming": [(U64, SMALL)], "tracker_pages": [U64],
                      "ram": (U64, U64), "tracker_region": (U64, U64)}),
    "boot_messages": [str],
    "bus_master_cleared": [_Either(str, (str, str))],
    "fabric": opt({"name": opt(str), "functions": opt(SMALL)}),
}

# LuoFile.to_list(): handler, token, device key, data, retrieved, finished
_LUO_FILE = (str, U64, U64, U64, bool, bool)
KERNEL_HEAD = {
    "generation": SMALL, "profile": "profile", "params": PARAMS, "phase": str,
    "panic": opt(str),
    "luo": {"enabled": bool,
            "flbs": [{"compatible": str, "out_count": U64, "out_data": U64,
                      "in_count": U64, "in_data": U64, "retrieved": bool,
                      "retrieve_err": ERRNO, "retrieve_calls": SMALL,
                      "retrieve_failures": SMALL, "saturated": bool, "finished": bool}],
            "sessions": [(str, [_LUO_FILE])], "in_sessions": [(str, [_LUO_FILE])]},
    "outgoing": opt({"layout": str, "pa": U64, "size": U64, "version": opt(U32),
                     "blocks": [U64]}),
    "incoming": opt({"layout": str, "pa": U64, "max_nr": U32, "blob": str,
                     "version": opt(U32), "blocks": [(U64, U32, str)], "xa": [(U64, U64)]}),
    "incoming_freed": bool, "had_incoming": bool, "incoming_freed_pages": [U64],
    "incoming_free_calls": SMALL, "driver_faults": [(U64, str)],
    "allocator": opt(_Values(SMALL)),
    "log": opt({"entries": [(str, str)], "once": [ANY]}),
}


def _what(spec) -> str:
    if spec is str:
        return "a string"
    if spec is bool:
        return "true or false"
    if spec == "profile":
        return "a profile name"
    if _is_range(spec):
        return "an integer 0..2^64-1" if spec == U64 else f"an integer {spec[0]}..{spec[1]}"
    if isinstance(spec, dict):
        return "an object"
    if isinstance(spec, list):
        return "a list"
    if isinstance(spec, tuple):
        return f"a list of {len(spec)}"
    return "something else"


def _fits(v, spec) -> str | None:
    """None if ``v`` has the shape ``spec``, else the path below ``v`` and what was expected
    there (``"[0][1]: expected ..."``)."""
    if spec is ANY:
        return None
    if isinstance(spec, _Opt):
        return None if v is None else _fits(v, spec.spec)
    if isinstance(spec, _Values):
        if type(v) is not dict:
            return f": expected an object, got {_show(v)}"
        for k, item in v.items():
            bad = _fits(item, spec.spec)
            if bad is not None:
                return f"[{k!r}]{bad}"
        return None
    if isinstance(spec, _Either):
        if any(_fits(v, s) is None for s in spec.specs):
            return None
        return f": expected {' or '.join(_what(s) for s in spec.specs)}, got {_show(v)}"
    if spec is str or spec is bool:
        return None if type(v) is spec else f": expected {_what(spec)}, got {_show(v)}"
    if spec == "profile":
        from pcilu_cli.abi.profiles import get_profile
        from pcilu_cli.errors import UsageError
        if type(v) is str:
            try:
                get_profile(v)
                return None
            except UsageError:
                pass
        return f": expected a profile this pcilu knows, got {_show(v)}"
    if _is_range(spec):
        if type(v) is int and spec[0] <= v <= spec[1]:
            return None
        return f": expected {_what(spec)}, got {_show(v)}"
    if isinstance(spec, dict):
        if type(v) is not dict:
            return f": expected an object, got {_show(v)}"
        for k, sub in spec.items():
            if k in v:
                bad = _fits(v[k], sub)
                if bad is not None:
                    return f".{k}{bad}"
        return None
    if isinstance(spec, list):
        if type(v) is not list:
            return f": expected a list, got {_show(v)}"
        if _all_fit(v, spec[0]):
            return None
        for i, item in enumerate(v):
            bad = _fits(item, spec[0])
            if bad is not None:
                return f"[{i}]{bad}"
        return None
    if type(v) is not list or len(v) != len(spec):
        return f": expected {_what(spec)}, got {_show(v)}"
    for i, (item, sub) in enumerate(zip(v, spec)):
        bad = _fits(item, sub)
        if bad is not None:
            return f"[{i}]{bad}"
    return None


def _is_range(spec) -> bool:
    return isinstance(spec, tuple) and len(spec) == 2 and all(type(x) is int for x in spec)


def _all_fit(items, spec) -> bool:
    """True if every one of ``items`` has the shape ``spec``, decided column-wise at C speed
    for the long lists a large state holds (65,536 names in ``bus_master_cleared``, thousands
    of allocator rows); False sends the caller to the item-by-item walk that names the first
    misfit. Only a sure True is fast: anything unusual is left to that walk."""
    if not items:
        return True
    if isinstance(spec, _Either):           # (before the kinds: each choice takes its own)
        return any(_all_fit(items, s) for s in spec.specs)
    kinds = set(map(type, items))
    if spec is str or spec is bool:
        return kinds == {spec}
    if _is_range(spec):
        return kinds == {int} and spec[0] <= min(items) and max(items) <= spec[1]
    if isinstance(spec, tuple) and kinds == {list} and set(map(len, items)) == {len(spec)}:
        return all(_all_fit(list(col), sub) for col, sub in zip(zip(*items), spec))
    return False


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _check(doc: dict, shape: dict, what: str, file, field) -> None:
    for key, spec in shape.items():
        if key in doc:
            bad = _fits(doc[key], spec)
            if bad is not None:
                raise BadInput(f"{what} is corrupt: {key}{bad}", file=file, field=field)


def check(meta: dict, file) -> None:
    """Refuse (:class:`BadInput` naming the file, the note and the field) a metadata
    document whose values do not have the shapes :data:`SHAPE` gives them."""
    _check(meta, SHAPE, "state metadata", file, FIELD)


def check_kernel_head(head: dict, file, field) -> None:
    """The same for the kernel note's head (:data:`KERNEL_HEAD`)."""
    _check(head, KERNEL_HEAD, "the kernel note's head", file, field)


__all__ = ["check", "check_kernel_head", "SHAPE", "KERNEL_HEAD", "PARAMS", "FIELD"]
