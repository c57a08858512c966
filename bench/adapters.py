# SPDX-License-Identifier: GPL-2.0-only
"""The Python API the scale benchmarks drive, found at run time.

The kernel, state and synth layers are written in parallel with this suite; each probe below
looks for the documented entry point and raises :class:`NotAvailable` naming what is missing, so
``bench/run.py`` prints "not available yet: <what>" instead of crashing. When a layer lands, only
this module has to follow its API.
"""
from __future__ import annotations

import importlib
import inspect


class NotAvailable(Exception):
    pass


def _need(module: str, attr: str | None = None):
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name) or e.name == module:
            raise NotAvailable(f"{module}" + (f".{attr}" if attr else "")) from None
        raise
    if attr is None:
        return mod
    obj = getattr(mod, attr, None)
    if obj is None:
        raise NotAvailable(f"{module}.{attr}")
    return obj


# ---- fabric ------------------------------------------------------------------------------------

def synth_fabric():
    return _need("pcilu_cli.fabric.synth", "synth_fabric")


def load_fabric(path):
    return _need("pcilu_cli.fabric", "load_fabric")(path)


def endpoints(kernel, k: int) -> tuple[list[str], int]:
    """BDFs of ``k`` endpoints spread evenly over what generation ``kernel`` enumerated
    (deterministic; not bridges, not VFs: what a user would hand to vfio-pci), and how many
    functions that generation enumerated in all."""
    devs = kernel.report()["devices"]
    eps = [d["bdf"] for d in devs if d.get("enumerated") and d.get("kind") in ("endpoint", "pf")]
    n_enum = sum(1 for d in devs if d.get("enumerated"))
    if k >= len(eps):
        return eps, n_enum
    step = len(eps) / k
    return [eps[int(i * step)] for i in range(k)], n_enum


# ---- kernel ------------------------------------------------------------------------------------

def kernel_class():
    """The class the CLI commands drive: ``state.machine.Machine`` (fabric + kernel + physical
    memory, so kexec really serializes KHO/LUO into memory and the next kernel reads it back),
    else the bare ``kernel.generation.Kernel`` (in-memory hand-over)."""
    try:
        return _need("pcilu_cli.state.machine", "Machine")
    except NotAvailable:
        return _need("pcilu_cli.kernel.generation", "Kernel")


def api_name() -> str:
    K = kernel_class()
    return f"{K.__module__}.{K.__qualname__}"


def boot(fabric, profile: str = "v6"):
    """Generation 0 on ``fabric`` (what ``pcilu init`` does after loading the fabric)."""
    K = kernel_class()
    b = getattr(K, "boot", None)
    if b is None:
        raise NotAvailable("pcilu_cli.kernel.generation.Kernel.boot")
    if isinstance(inspect.getattr_static(K, "boot"), (classmethod, staticmethod)):
        return K.boot(fabric, profile=profile)
    k = K(fabric, profile=profile)
    k.boot()
    return k


# A LUO session holds at most LUO_FILE_MAX = 128 files in the file-array generations
# (kho-luo-abi.md §2.3), so the benchmark spreads its preserves over sessions of 100, as a
# user preserving 1,000 devices would have to.
FILES_PER_SESSION = 100


def preserve(k, bdf: str, index: int = 0):
    return k.preserve(bdf, session=f"bench-{index // FILES_PER_SESSION:03d}")


def kexec(k):
    """What ``pcilu kexec`` does: freeze, shutdown, hand over, then boot and enumerate N+1."""
    handover = k.kexec()
    next_kernel = getattr(k, "next_kernel", None)
    if next_kernel is None:      # an API where kexec() returns the next kernel itself
        return handover
    return next_kernel(handover)


def finish(k, bdf: str):
    return k.finish(bdf)


def report(k) -> dict:
    return k.report()


def report_text(doc: dict) -> str:
    """The enumerate document as `pcilu enumerate --json` prints it (the command's renderer):
    what the in-process cycle must also produce to do the same work as the command."""
    try:
        json_text = _need("pcilu_cli.cli.context", "json_text")
    except NotAvailable:
        import json
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return json_text(doc)


def warm_up() -> None:
    """One tiny cycle, untimed, so that every lazily imported module is loaded before timing."""
    try:
        from pcilu_cli.fabric.build import small_fabric
        fab = small_fabric("switch")
    except Exception:  # noqa: BLE001 - only a warm-up
        return
    try:
        k = boot(fab)
        eps, _ = endpoints(k, 1)
        if eps:
            preserve(k, eps[0], 0)
        report(kexec(k))
    except Exception:  # noqa: BLE001
        pass


# ---- state -------------------------------------------------------------------------------------

def state_api():
    """(save(kernel, path), load(path)) of the state layer (pcilu_cli/state/__init__.py)."""
    st = _need("pcilu_cli.state")
    save = getattr(st, "save_state", None) or getattr(st, "save", None)
    load = getattr(st, "load_state", None) or getattr(st, "load", None)
    if save is None or load is None:
        raise NotAvailable("pcilu_cli.state.save_state/load_state")
    return save, load


def enumerate_kernel(fabric, profile: str = "v6"):
    """The kernel's enumeration alone (no physical memory, no KHO set-up): ``Kernel.boot``."""
    K = _need("pcilu_cli.kernel", "Kernel")
    return K.boot(fabric, profile=profile)


def forget_saved_parts(machine) -> None:
    """Drop what a loaded Machine kept of its file for reuse at save, so that the next save
    encodes every part anew (the "from scratch" side of the save row). A Machine that keeps
    nothing needs nothing dropped."""
    forget = getattr(machine, "forget_encoded", None)
    if forget is not None:
        forget()
