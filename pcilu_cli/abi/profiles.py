# SPDX-License-Identifier: GPL-2.0-only
"""Profiles: one kernel's Live Update ABI and behaviour, by name.

A profile fixes every choice a parser or the simulated kernel has to make: the KHO root FDT
generation, the LUO form, the PCI FLB compatible string, the ``struct pci_ser`` layout, and the
behaviour differences between revisions of the series (``pci-liveupdate-v6.md`` §1.3, §13;
``kho-luo-abi.md`` §0, §4).

Which KHO/LUO generation sits under each PCI revision is our reading of the dates
(UNCONFIRMED in the spec): v6 (22 May 2026) predates the June-2026 "Remove limits on
sessions and files" merge, so it runs on gen C (``kho-v3`` + FDT ``luo-v1`` with a
``luo-flb`` node); v7 (10 Jul 2026) and the version-field era run on gen D (``kho-v4`` + raw
``luo_ser`` ``luo-v5`` with ``kho_block`` chains).
"""
from __future__ import annotations

from pcilu_cli.errors import FrozenValue, UsageError

# struct pci_ser layouts
FLEX = "flex"        # u32 max_nr_devices; u32 nr_devices; struct pci_dev_ser devices[]
BLOCK = "block"      # u32 nr_devices; u64 devices (PA of the first kho_block)  -- v7
VERSION = "version"  # u32 version; u32 nr_devices; u64 devices                 -- v8/v9 era

# meaning of pci_dev_ser's last u16
PADDING = "padding"  # pci-v1 of v6 patch 01: u16 padding
IN_USE = "in-use"    # 1 = in use, 0 = free
PATH = "path"        # number of preserved devices at or below this one


class Profile(FrozenValue):
    """One kernel's ABI and behaviour. A read-only value, equal when its fields are; a
    variant is ``profile.replace(name=..., ...)``. (A plain class rather than a frozen
    dataclass: every pcilu start loads this table, and a dataclass's methods are generated
    at import.)"""

    FIELDS = ("name", "series", "pci_compatible", "pci_layout", "refcount", "pci_version",
              "kho_compatible", "luo_compatible", "retrieve_failure", "bus_inherit",
              "hold_flb_ref_per_device", "panic_on_unfinished", "pr_fmt", "aliases", "note",
              "patch", "adds", "matrix")

    def __init__(self, name: str,
                 series: str,                   # the patch series revision it models
                 pci_compatible: str,           # PCI_LUO_FLB_COMPATIBLE (luo_flb_ser.name)
                 pci_layout: str,               # FLEX / BLOCK / VERSION
                 refcount: str,                 # PADDING / IN_USE / PATH
                 pci_version: int | None,       # PCI_LUO_FLB_VERSION (VERSION layout only)
                 kho_compatible: str,           # KHO_FDT_COMPATIBLE of the root FDT
                 luo_compatible: str,           # "luo-v1" (FDT) or "luo-v5" (raw luo_ser)
                 # behaviour (spec §13)
                 retrieve_failure: str,         # "warn" (v6: WARN_ONCE, nothing incoming)
                                                # / "panic"
                 bus_inherit: str,              # "unfinished" (v6/v7) / "lifetime"
                                                # (had_incoming, later)
                 hold_flb_ref_per_device: bool,  # v6/v7: every incoming pci_dev holds an
                                                 # FLB ref until finish
                 panic_on_unfinished: bool,     # later: pci_flb_finish panics if devices
                                                # never finished
                 pr_fmt: str = "PCI: liveupdate: ",
                 aliases: tuple = (),
                 note: str = "",
                 # the last patch of the v6 series whose behaviour this kernel has (1..12);
                 # later series (v7, the version-field era) carry every v6 behaviour, so 12
                 patch: int = 12,
                 adds: str = "",                # what that patch adds (``pcilu profiles``)
                 matrix: bool = True):          # part of ``profiles --matrix`` by default
        self.__dict__.update(
            name=name, series=series, pci_compatible=pci_compatible, pci_layout=pci_layout,
            refcount=refcount, pci_version=pci_version, kho_compatible=kho_compatible,
            luo_compatible=luo_compatible, retrieve_failure=retrieve_failure,
            bus_inherit=bus_inherit, hold_flb_ref_per_device=hold_flb_ref_per_device,
            panic_on_unfinished=panic_on_unfinished, pr_fmt=pr_fmt, aliases=aliases,
            note=note, patch=patch, adds=adds, matrix=matrix)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r} (a Profile is read-only; "
                             "make a variant with .replace())")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r} (a Profile is read-only)")

    def replace(self, **changes) -> "Profile":
        """A copy with some fields changed (what ``dataclasses.replace`` does)."""
        unknown = set(changes) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"Profile has no field(s) {', '.join(sorted(unknown))}")
        return Profile(**{**{f: self.__dict__[f] for f in self.FIELDS}, **changes})


    @property
    def luo_is_fdt(self) -> bool:
        return self.luo_compatible == "luo-v1"

    @property
    def kho_gen(self) -> str:
        return {"kho-v1": "A", "kho-v2": "B", "kho-v3": "C", "kho-v4": "D"}[self.kho_compatible]


_GEN_C = dict(kho_compatible="kho-v3", luo_compatible="luo-v1")
_GEN_D = dict(kho_compatible="kho-v4", luo_compatible="luo-v5")
_V6 = dict(retrieve_failure="warn", bus_inherit="unfinished", hold_flb_ref_per_device=True,
           panic_on_unfinished=False)

PROFILES: dict[str, Profile] = {}


def _add(p: Profile) -> None:
    PROFILES[p.name] = p


# One profile per patch of v6 (cover letter, spec §0.1), each behaviour switched on by the
# patch that introduced it (spec §17, settled from the patch mails); ``v6`` is patch 12.
_P = [
    # patch, compat, refcount meaning, series text, adds
    (1, "pci-v1", PADDING, "Set up FLB handler for the PCI core",
     "struct pci_ser FLB (preserve/unpreserve/retrieve/finish), register_flb; u16 padding"),
    (2, "pci-v2", IN_USE, "Track outgoing preserved PCI devices",
     "pci_liveupdate_preserve/unpreserve of one device (no bridges), padding -> refcount"),
    (3, "pci-v2", IN_USE, "Track incoming preserved PCI devices",
     "xarray of incoming devices, setup_device, finish (refcount != 1 WARNs corrupted), "
     "is_incoming; every incoming device holds an FLB reference"),
    (4, "pci-v2", IN_USE, "Document driver binding responsibilities", "documentation only"),
    (5, "pci-v2", IN_USE, "Keep bus numbers constant during Live Update",
     "scan_bridge_begin/end: bus numbers inherited while incoming devices are unfinished"),
    (6, "pci-v3", PATH, "Auto-preserve upstream bridges across Live Update",
     "path walk to the root port, bridge refcounts, rollback; compat pci-v3"),
    (7, "pci-v3", PATH, "Refactor matching logic for pci_dev_acs_ops",
     "no functional change"),
    (8, "pci-v3", PATH, "Inherit ACS flags in incoming preserved devices",
     "ACS Control inherited (was_preserved); ACS-quirk devices refused"),
    (9, "pci-v3", PATH, "Inherit ARI Forwarding Enable on preserved bridges",
     "ARI Forwarding Enable inherited on incoming bridges"),
    (10, "pci-v3", PATH, "Freeze preservation status during shutdown",
     "frozen: preserve/unpreserve refused once shutdown began"),
    (11, "pci-v3", PATH, "Do not disable bus mastering on preserved devices during kexec",
     "Bus Master kept at kexec on outgoing devices; pci_liveupdate_is_outgoing()"),
]
for _n, _compat, _rc, _subject, _adds in _P:
    _add(Profile(f"v6-p{_n:02d}", f"v6 patch {_n:02d}", _compat, FLEX, _rc, None,
                 **_GEN_C, **_V6, patch=_n, adds=_adds,
                 aliases={1: ("pci-v1",), 5: ("pci-v2",)}.get(_n, ()),
                 matrix=_n in (1, 2), note=_subject))
_add(Profile("v6", "v6 final (patch 12)", "pci-v3", FLEX,
             PATH, None, **_GEN_C, **_V6, aliases=("pci-v3", "v6-p12"), patch=12,
             adds="documentation only: the whole series, the default profile",
             note="Documentation: PCI: Add documentation for Live Update"))
_add(Profile("v7", "v7 final", "pci-v2", BLOCK, PATH, None, **_GEN_D,
             retrieve_failure="panic", bus_inherit="unfinished", hold_flb_ref_per_device=True,
             panic_on_unfinished=False,
             note="kho_block chain, 510 entries/block; retrieve failure panics"))
_add(Profile("v8", "v8/v9 era, version 1", "pci", VERSION, PATH, 1,
             **_GEN_D, retrieve_failure="panic", bus_inherit="lifetime",
             hold_flb_ref_per_device=False, panic_on_unfinished=True,
             aliases=("pci+1",), note="u32 version; bus numbers kept for the kernel's lifetime"))
_add(Profile("v9", "v9 era, version 2", "pci", VERSION, PATH, 2,
             **_GEN_D, retrieve_failure="panic", bus_inherit="lifetime",
             hold_flb_ref_per_device=False, panic_on_unfinished=True,
             aliases=("pci+2",), note="latest stored copy of the version-field era"))

DEFAULT_PROFILE = "v6"

_ALIASES = {a: p.name for p in PROFILES.values() for a in p.aliases}


def get_profile(name: "str | Profile | None") -> Profile:
    """Look a profile up by name or alias (``pci-v3`` is ``v6``); a Profile is returned as is."""
    if isinstance(name, Profile):
        return name
    if name is None:
        name = DEFAULT_PROFILE
    key = _ALIASES.get(name, name)
    try:
        return PROFILES[key]
    except KeyError:
        known = ", ".join(sorted(PROFILES) + sorted(_ALIASES))
        raise UsageError(f"unknown profile {name!r} (known: {known})") from None


def profile_names() -> list[str]:
    return list(PROFILES)


def matrix_profiles() -> list[str]:
    """The profiles ``profiles --matrix`` crosses by default (one per layout/behaviour era)."""
    return [n for n, p in PROFILES.items() if p.matrix]


def profiles_for_compatible(compatible: str) -> list[Profile]:
    return [p for p in PROFILES.values() if p.pci_compatible == compatible]
