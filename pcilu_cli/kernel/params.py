# SPDX-License-Identifier: GPL-2.0-only
"""Kernel command-line parameters that change what a generation's PCI core does.

Parsed like the kernel parses them: whitespace-separated ``name=value`` words, the ``pci=``
option split on commas (``pci_setup()``), booleans through kstrtobool rules. Unknown words are
kept in ``ignored`` (the kernel hands them to init); a bad boolean value is ignored too.

Simulator defaults (our choice): ``liveupdate`` and ``kho`` are on — a rehearsal is pointless
without them — and an IOMMU has requested ACS (``pci_request_acs()``), as on the hosts that use
vfio-pci; ``iommu=off`` models a host without one.
"""
from __future__ import annotations

from pcilu_cli.errors import Value

_TRUE = {"1", "y", "yes", "on", "true", "enable", "enabled"}
_FALSE = {"0", "n", "no", "off", "false", "disable", "disabled"}


def _kstrtobool(value: str):
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    return None


class KernelParams(Value):
    """The parsed command line. (A plain class rather than a dataclass: every kernel command
    loads this module, and a dataclass's methods are generated at import.)"""

    FIELDS = ("assign_busses", "noari", "config_acs", "disable_acs_redir", "pcie_scan_all",
              "noats", "liveupdate", "kho", "iommu", "dyndbg", "cmdline", "ignored")

    def __init__(self, assign_busses: bool = False, noari: bool = False,
                 config_acs: str | None = None, disable_acs_redir: str | None = None,
                 pcie_scan_all: bool = False, noats: bool = False, liveupdate: bool = True,
                 kho: bool = True, iommu: bool = True, dyndbg: bool = False, cmdline: str = "",
                 ignored: list | None = None):
        self.assign_busses = assign_busses    # pci=assign-busses (x86 PCI_ASSIGN_ALL_BUSSES)
        self.noari = noari                    # pci=noari (pcie_ari_disabled)
        self.config_acs = config_acs          # pci=config_acs=
        self.disable_acs_redir = disable_acs_redir  # pci=disable_acs_redir=
        self.pcie_scan_all = pcie_scan_all    # pci=pcie_scan_all (PCI_SCAN_ALL_PCIE_DEVS)
        self.noats = noats                    # pci=noats (pci_ats_disabled())
        self.liveupdate = liveupdate          # liveupdate=on|off
        self.kho = kho                        # kho=on|off
        self.iommu = iommu                    # an IOMMU driver called pci_request_acs()
        self.dyndbg = dyndbg                  # dyndbg=... / <module>.dyndbg: pr_debug kept
        self.cmdline = cmdline
        self.ignored = [] if ignored is None else ignored

    def _values(self) -> tuple:
        # compared and shown as to_dict() has them (``ignored`` as a list)
        return tuple(self.to_dict().values())

    @property
    def luo_enabled(self) -> bool:
        # LUO disables itself when KHO is off (luo_early_startup()).
        return self.liveupdate and self.kho

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.FIELDS}
        d["ignored"] = list(d["ignored"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "KernelParams":
        known = {k: d[k] for k in cls.FIELDS if k in d}
        return cls(**known)


def _parse_pci_option(p: KernelParams, value: str) -> None:
    # mirrors pci_setup(): comma-separated words, first match wins per word
    for word in value.split(","):
        if not word:
            continue
        if word == "assign-busses":
            p.assign_busses = True
        elif word == "noari":
            p.noari = True
        elif word == "pcie_scan_all":
            p.pcie_scan_all = True
        elif word == "noats":
            p.noats = True
        elif word.startswith("config_acs="):
            p.config_acs = word[len("config_acs="):]
        elif word.startswith("disable_acs_redir="):
            p.disable_acs_redir = word[len("disable_acs_redir="):]
        else:
            p.ignored.append("pci=" + word)


def parse_cmdline(cmdline: str | None) -> KernelParams:
    """Parse a kernel command line (``"pci=assign-busses,noari liveupdate=on"``)."""
    p = KernelParams(cmdline=cmdline or "")
    if not cmdline:
        return p
    import shlex                 # only for a command line given (not at every start)
    try:
        words = shlex.split(cmdline)
    except ValueError:
        words = cmdline.split()
    for w in words:
        name, eq, value = w.partition("=")
        if name == "pci" and eq:
            _parse_pci_option(p, value)
        elif name in ("liveupdate", "kho") and eq:
            b = _kstrtobool(value)
            if b is None:
                p.ignored.append(w)
            else:
                setattr(p, name, b)
        elif name == "iommu" and eq and value == "off":
            p.iommu = False
        elif name in ("intel_iommu", "amd_iommu") and value == "off":
            p.iommu = False
        elif name == "dyndbg" or name.endswith(".dyndbg"):
            # dynamic debug: pr_debug()/pci_dbg() lines reach the log only when enabled
            p.dyndbg = True
        else:
            p.ignored.append(w)
    return p


def as_params(value) -> KernelParams:
    if value is None:
        return KernelParams()
    if isinstance(value, KernelParams):
        return value
    if isinstance(value, dict):
        return KernelParams.from_dict(value)
    return parse_cmdline(str(value))
