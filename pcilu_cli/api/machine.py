# SPDX-License-Identifier: GPL-2.0-only
"""The API's :class:`Machine`: one booted generation, with the userspace actions of the CLI.

It wraps :class:`pcilu_cli.state.Machine` (the simulator's generation) and adds what the
command line promises around it: BDFs checked against the fabric before the kernel sees them,
several BDFs applied all or nothing, results as the CLI's JSON documents, and ``kexec()``
leaving the machine it was called on as it was (the state file of generation N stays the
pre-kexec record at the CLI; in memory, the API keeps the same promise by kexec'ing a copy).

The CLI's read-modify-write commands hold a locked transaction on the state file and drop it
when anything fails, so they wrap the loaded generation with ``disposable=True``: no snapshot
for rollback, and kexec may consume it.
"""
from __future__ import annotations

from pcilu_cli.errors import BadInput, KernelPanic, KernelRefusal


def load_fabric(path):
    """A Fabric from FABRIC as ``pcilu init`` accepts it; a Fabric object passes through."""
    return load_fabric_and_state(path)[0]


def load_fabric_and_state(path):
    """(fabric, the state layer's Machine or None): YAML, lspci dump, sysfs snapshot or
    capture, serialized fabric, or a state file (its fabric as that generation left it, and
    the generation); ``-`` reads standard input; a Fabric object passes through."""
    if not isinstance(path, (str, bytes)) and not hasattr(path, "__fspath__"):
        return path, None
    from pcilu_cli.abi.formats import identify
    from pcilu_cli.fabric import load_fabric as _load, load_fabric_bytes
    path = str(path)
    if path == "-":
        from pcilu_cli.state.store import read_input
        data, name = read_input("-"), "<stdin>"
        if identify(data[:4]).kind == "elf":
            from pcilu_cli.state import Machine as Sim
            sim = Sim.from_bytes(data, file=name)
            return sim.fabric, sim
        return load_fabric_bytes(data, name), None
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        head = b""            # a directory (sysfs snapshot) or missing: load_fabric says which
    if identify(head).kind == "elf":
        from pcilu_cli.state import load
        sim = load(path)
        return sim.fabric, sim
    return _load(path), None


def check_bdf(sim, bdf: str) -> int:
    """Unknown to the fabric → bad input (exit 3); known to the fabric but not enumerated by
    this kernel → the kernel's -ENODEV, which the kernel call itself reports (exit 4)."""
    from pcilu_cli.abi.bdf import device_key, format_bdf, parse_bdf
    try:
        d, b, df = parse_bdf(bdf)
    except ValueError as e:
        raise BadInput(f"{bdf!r} is not a BDF (DDDD:BB:DD.F or BB:DD.F): {e}",
                       field="BDF") from None
    key = device_key(d, b, df)
    if sim.kernel is not None and key in sim.kernel.devices:
        return key
    if sim.fabric.route(d, b, df) is None:
        raise BadInput(f"unknown BDF {format_bdf(d, b, df)}: no function answers there in "
                       f"this fabric ({len(sim.fabric)} functions)", field="BDF")
    return key


class Machine:
    """One generation (see the module docstring). Build with :func:`pcilu.init`,
    :func:`pcilu.load` or :meth:`kexec`."""

    def __init__(self, sim, *, disposable: bool = False, source: str | None = None):
        self.sim = sim                    # the pcilu_cli.state.Machine underneath
        self._disposable = disposable
        self.source = source              # the state file it was loaded from, if any

    # ---- facts ---------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        return self.sim.generation

    @property
    def profile(self) -> str:
        return self.sim.profile.name

    @property
    def phase(self) -> str:
        return self.sim.phase

    @property
    def panic(self) -> str | None:
        return self.sim.panic

    @property
    def fabric(self):
        return self.sim.fabric

    def __repr__(self):
        return (f"<pcilu.Machine generation {self.generation} ({self.profile}), "
                f"{len(self.sim.fabric)} functions, {self.phase}>")

    # ---- userspace actions ---------------------------------------------------------------
    def _each(self, kind: str, bdfs, action, check=None) -> dict:
        """Apply ``action(sim, bdf)`` to every BDF, all or nothing: a refusal or bad input
        restores the generation as it was (a panic is kept: the kernel died)."""
        if not bdfs:
            raise BadInput(f"{kind}: no BDF given", field="BDF")
        snap = None if self._disposable or len(bdfs) < 2 else self.sim.to_bytes()
        results = []
        try:
            for bdf in bdfs:
                check_bdf(self.sim, bdf)
                r = action(self.sim, bdf)
                if check is not None:
                    check(r)
                results.append(r)
        except (BadInput, KernelRefusal):
            if snap is not None:
                self._restore(snap)
            raise
        except KernelPanic as exc:
            exc.machine = self
            raise
        return {"kind": kind, "results": results}

    def _restore(self, snap: bytes) -> None:
        from pcilu_cli.state import Machine as Sim
        self.sim = Sim.from_bytes(snap, file="<snapshot>")

    def preserve(self, *bdfs, session: str | None = None, token: int | None = None,
                 check=None) -> dict:
        """Preserve devices for the next kernel (bridges come along); ``{"kind": "preserve",
        "results": [...]}``. ``check(result)`` runs after each device and may raise."""
        return self._each("preserve", bdfs,
                          lambda s, b: s.preserve(b, session=session, token=token), check)

    def unpreserve(self, *bdfs, session: str | None = None, check=None) -> dict:
        return self._each("unpreserve", bdfs, lambda s, b: s.unpreserve(b, session=session),
                          check)

    def finish(self, *bdfs, check=None) -> dict:
        return self._each("finish", bdfs, lambda s, b: s.finish(b), check)

    def hot_remove(self, *bdfs, check=None) -> dict:
        return self._each("hot-remove", bdfs, lambda s, b: s.hot_remove(b), check)

    def hot_add(self) -> dict:
        """Rescan every bus; ``{"kind": "hot-add", "added": [...], "messages": [...]}``."""
        try:
            r = self.sim.rescan()
        except KernelPanic as exc:
            exc.machine = self
            raise
        return {**r, "kind": "hot-add"}

    def kexec(self, profile: str | None = None, cmdline: str | None = None) -> "Machine":
        """Freeze, shut down, hand over and boot generation N+1 (``profile``/``cmdline`` of
        the next kernel; default: the running one's). This machine is left as it was. If the
        new kernel panics, :class:`KernelPanic` is raised with ``.machine`` = the panicked
        generation (save it to look at it)."""
        src = self.sim if self._disposable else self._copy()
        try:
            # src is this call's own (disposable, or the private copy): consumed by the kexec
            nxt = src.kexec(profile=profile, params=cmdline, consume=True)
        except KernelPanic as exc:
            inner = exc.machine
            exc.machine = None if inner is None or inner is src else Machine(inner)
            raise
        return Machine(nxt)

    def _copy(self):
        from pcilu_cli.state import Machine as Sim
        return Sim.from_bytes(self.sim.to_bytes(), file="<copy>")

    # ---- views -----------------------------------------------------------------------------
    def enumerate(self, debug: bool = False) -> dict:
        """The ``enumerate --json`` document (a panicked generation's has ``panic`` set)."""
        return self.sim.report(debug=debug)

    def to_bytes(self) -> bytes:
        return self.sim.to_bytes()

    def save(self, path, *, report_json=None) -> None:
        """Write the state file atomically (``-`` = stdout). ``report_json`` (a JSON renderer,
        ``obj -> str``): the file also keeps this generation's enumerate document rendered by
        it, which ``stored_report()`` of the loaded file returns until the state changes."""
        from pcilu_cli.state import save
        save(self.sim, str(path), report_json=report_json)

    def stored_report(self) -> str | None:
        """The enumerate document the loaded file keeps (see :meth:`save`), or None."""
        return self.sim.stored_report()

    def export(self, directory) -> dict:
        """Write the standard views of this generation (lspci dump, KHO FDTs, FLB blobs,
        state.json) into ``directory``; the ``export --json`` document (``files``,
        ``removed``; ``state`` is the file this machine was loaded from, None if it was made
        in memory). ``directory`` must be new, empty, or an earlier export (whose files are
        replaced); anything else is :class:`BadInput`."""
        from pcilu_cli.state.export import write_export
        directory = str(directory)
        res = write_export(self.sim, directory)
        return {"kind": "export", "state": self.source, "directory": directory, **res}


def init(fabric, *, profile=None, cmdline="") -> Machine:
    from pcilu_cli.state import Machine as Sim
    fab = load_fabric(fabric)
    try:
        sim = Sim.boot(fab, profile=profile, params=cmdline or "")
    except KernelPanic as exc:
        if exc.machine is not None:
            exc.machine = Machine(exc.machine)
        raise
    return Machine(sim)


def load(path) -> Machine:
    from pcilu_cli.state import load as _load
    return Machine(_load(str(path)), source=str(path))


def from_bytes(data: bytes, name: str = "<bytes>") -> Machine:
    from pcilu_cli.state import Machine as Sim
    return Machine(Sim.from_bytes(bytes(data), file=name))


def boot_from_blob(fabric, blob: bytes, *, profile=None, cmdline="", name=None,
                   flb_name=None, flb_count=None) -> Machine:
    from pcilu_cli.state import Machine as Sim
    fab = load_fabric(fabric)
    try:
        sim = Sim.boot_from_blob(fab, bytes(blob), profile=profile, params=cmdline or "",
                                 file=name, flb_name=flb_name, flb_count=flb_count)
    except KernelPanic as exc:
        if exc.machine is not None:
            exc.machine = Machine(exc.machine)
        raise
    return Machine(sim)
