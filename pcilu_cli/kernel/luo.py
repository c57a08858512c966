# SPDX-License-Identifier: GPL-2.0-only
"""LUO (Live Update Orchestrator) as the PCI core sees it: sessions, files, FLB refcounts.

Models ``kernel/liveupdate/luo_session.c``, ``luo_file.c`` and ``luo_flb.c`` of the liveupdate
``next`` branch the v6 series depends on (``kho-luo-abi.md`` §2.4–§2.7, v6 spec §3.1):

* outgoing: the first preserved file of a handler linked to an FLB calls the FLB's
  ``preserve`` before the handler's own ``preserve``; each further file bumps the count; the
  last unpreserved file calls the FLB's ``unpreserve`` after the handler's ``unpreserve``.
  A failing handler ``preserve`` drops the FLB reference it took (spec §3.1, settled:
  ``luo_preserve_file()`` calls ``luo_flb_file_unpreserve()`` on its error path).
* incoming: ``liveupdate_flb_get_incoming()`` runs ``luo_flb_retrieve_one()`` whenever no
  object is cached: it looks the record up by exact name, (re)loads the refcount from the
  record's ``count`` and calls ``retrieve``. A failed retrieve is NOT remembered (spec §3.4,
  settled from the series' tree): every later lookup searches, reloads and retrieves again,
  so each failure runs the FLB's error path again (the PCI FLB ``kho_restore_free()``s the
  same blob again). Every successful get takes a reference. ``liveupdate_flb_put_incoming()``
  finishes when the count drops to exactly 0; if nothing was retrieved it retries first and,
  on error, WARNs and returns without ``finish()`` (the FLB stays unfinished). A put on a
  count that was never loaded (a file finished before any lookup) underflows the
  ``refcount_t``: it WARNs and finishes nothing.

The FLB ``ops`` object must provide ``preserve() -> (obj, data)``, ``unpreserve(obj)``,
``retrieve(data) -> obj`` (raising :class:`FlbError` with a negative errno) and ``finish(obj)``.
"""
from __future__ import annotations

import errno as _e

EOPNOTSUPP, ENODATA, ENOENT, EEXIST, EBUSY, EINVAL = (
    -_e.EOPNOTSUPP, -_e.ENODATA, -_e.ENOENT, -_e.EEXIST, -_e.EBUSY, -_e.EINVAL)

LUO_FLB_MAX = 63


class FlbError(Exception):
    def __init__(self, err: int):
        super().__init__(err)
        self.err = err


_PREFERRED = {_e.EOPNOTSUPP: "EOPNOTSUPP", _e.EAGAIN: "EAGAIN", _e.EDEADLK: "EDEADLK"}


def errno_name(err: int) -> str:
    return _PREFERRED.get(-err) or _e.errorcode.get(-err, str(err))


class Flb:
    """``struct liveupdate_flb`` plus LUO's private outgoing/incoming state."""

    def __init__(self, compatible: str, ops):
        self.compatible = compatible
        self.ops = ops
        # outgoing
        self.out_count = 0
        self.out_data = 0
        self.out_obj = None
        # incoming
        self.in_count = 0
        self.in_data = 0
        self.in_obj = None
        self.retrieved = False
        self.retrieve_err = 0      # errno of the last failed retrieve (not cached by LUO)
        self.retrieve_calls = 0    # how many times ops.retrieve() ran
        self.retrieve_failures = 0  # how many of them failed
        self.saturated = False     # refcount_t underflowed (saturated) -- see put_incoming
        self.finished = False

    def state(self) -> dict:
        return {"compatible": self.compatible, "out_count": self.out_count,
                "out_data": self.out_data, "in_count": self.in_count, "in_data": self.in_data,
                "retrieved": self.retrieved, "retrieve_err": self.retrieve_err,
                "retrieve_calls": self.retrieve_calls,
                "retrieve_failures": self.retrieve_failures, "saturated": self.saturated,
                "finished": self.finished}

    def load(self, d: dict) -> None:
        for k in ("out_count", "out_data", "in_count", "in_data", "retrieved", "retrieve_err",
                  "finished"):
            setattr(self, k, d[k])
        for k in ("retrieve_calls", "retrieve_failures", "saturated"):
            setattr(self, k, d.get(k, getattr(self, k)))


class FileHandler:
    """``struct liveupdate_file_handler``: ``compatible`` and the FLBs it depends on."""

    def __init__(self, compatible: str, ops):
        self.compatible = compatible
        self.ops = ops      # preserve(file) / unpreserve(file) / finish(file)
        self.flbs: list[Flb] = []


class LuoFile:
    __slots__ = ("handler", "token", "key", "data", "retrieved", "finished")

    def __init__(self, handler: str, token: int, key: int, data: int = 0):
        self.handler = handler      # compatible of the handler
        self.token = token
        self.key = key              # our device key ((domain << 16) | bdf); see generation.py
        self.data = data
        self.retrieved = False
        self.finished = False

    def to_list(self):
        return [self.handler, self.token, self.key, self.data, self.retrieved, self.finished]

    @classmethod
    def from_list(cls, v):
        f = cls(v[0], v[1], v[2], v[3])
        f.retrieved, f.finished = v[4], v[5]
        return f


class Luo:
    """One generation's LUO. ``enabled`` is ``liveupdate=on`` with KHO on."""

    def __init__(self, enabled: bool, incoming=None, warn=None):
        self.enabled = enabled
        self.warn = warn            # how a WARN reaches the kernel log (text -> None)
        self.incoming = incoming if enabled else None  # source of incoming FLBs / sessions
        self.handlers: dict[str, FileHandler] = {}
        self.flbs: list[Flb] = []                      # registration order
        self.sessions: dict[str, list[LuoFile]] = {}   # outgoing, creation order
        self.in_sessions: dict[str, list[LuoFile]] = {}
        self._in_index = None       # (in_sessions it indexes, key -> [(session, file)])
        if self.incoming is not None:
            for name, files in getattr(self.incoming, "sessions", []) or []:
                self.in_sessions[name] = [LuoFile(c, t, t & 0xFFFFFFFFFFFF, d)
                                          for c, d, t in files]

    # -- registration ---------------------------------------------------------------------
    def register_file_handler(self, fh: FileHandler) -> int:
        if not self.enabled:
            return EOPNOTSUPP
        if fh.compatible in self.handlers:
            return EEXIST
        self.handlers[fh.compatible] = fh
        return 0

    def liveupdate_register_flb(self, fh: FileHandler, flb: Flb) -> int:
        """liveupdate_register_flb(): -EOPNOTSUPP (LUO off), -EINVAL (handler not
        registered), -EEXIST (already linked to this handler); then, for an FLB registered
        for the first time, the LUO_FLB_MAX check (-ENOSPC) comes before the duplicate
        compatible check (-EEXIST)."""
        if not self.enabled:
            return EOPNOTSUPP
        if self.handlers.get(fh.compatible) is not fh:
            return EINVAL
        if flb in fh.flbs:
            return EEXIST
        if not any(f is flb for f in self.flbs):        # first registration of this FLB
            if len(self.flbs) >= LUO_FLB_MAX:
                return -_e.ENOSPC
            if any(f.compatible == flb.compatible for f in self.flbs):
                return EEXIST
            self.flbs.append(flb)
        fh.flbs.append(flb)
        return 0

    # -- outgoing -------------------------------------------------------------------------
    def liveupdate_flb_get_outgoing(self, flb: Flb):
        if not self.enabled:
            return EOPNOTSUPP, None
        return 0, flb.out_obj

    def _flb_file_preserve(self, fh: FileHandler) -> int:
        done = []
        for flb in fh.flbs:
            if flb.out_count == 0:
                try:
                    flb.out_obj, flb.out_data = flb.ops.preserve()
                except FlbError as exc:
                    self._flb_file_unpreserve_list(done)
                    return exc.err
            flb.out_count += 1
            done.append(flb)
        return 0

    def _flb_file_unpreserve_list(self, flbs) -> None:
        for flb in reversed(flbs):
            flb.out_count -= 1
            if flb.out_count == 0:
                flb.ops.unpreserve(flb.out_obj)
                flb.out_obj, flb.out_data = None, 0

    def token_used(self, session: str, token: int) -> bool:
        return any(f.token == token for f in self.sessions.get(session, ()))

    def preserve_file(self, session: str, handler: str, token: int, key: int):
        """LIVEUPDATE_SESSION_PRESERVE_FD (the session is created on first use).

        Returns ``(0, file)`` or ``(-errno, None)``; the handler's own error propagates as a
        :class:`FlbError`-free negative errno from ``ops.preserve``.
        """
        if not self.enabled:
            return EOPNOTSUPP, None
        if self.token_used(session, token):
            return EEXIST, None
        fh = self.handlers.get(handler)
        if fh is None:
            return ENOENT, None
        err = self._flb_file_preserve(fh)
        if err:
            return err, None
        f = LuoFile(handler, token, key)
        err = fh.ops.preserve(f)
        if err:
            self._flb_file_unpreserve_list(fh.flbs)
            return err, None
        self.sessions.setdefault(session, []).append(f)
        return 0, f

    def unpreserve_file(self, session: str, f: LuoFile) -> None:
        fh = self.handlers[f.handler]
        fh.ops.unpreserve(f)
        files = self.sessions[session]
        files.remove(f)
        if not files:
            del self.sessions[session]
        self._flb_file_unpreserve_list(fh.flbs)

    def find_outgoing_file(self, key: int, session: str | None = None):
        for name, files in self.sessions.items():
            if session is not None and name != session:
                continue
            for f in files:
                if f.key == key:
                    return name, f
        return None, None

    # -- incoming -------------------------------------------------------------------------
    def luo_flb_retrieve_one(self, flb: Flb) -> int:
        """luo_flb_retrieve_one(): keeps no error state, so a failure is retried next time."""
        if flb.finished:
            return ENODATA
        if flb.retrieved:
            return 0
        if self.incoming is None:                     # no incoming FLB header
            return ENODATA
        rec = self.incoming.flb(flb.compatible)
        if rec is None:
            return ENOENT
        # refcount_set() from the record: reloaded on every attempt
        flb.in_data, flb.in_count = rec[0], rec[1]
        flb.saturated = False
        flb.retrieve_calls += 1
        try:
            flb.in_obj = flb.ops.retrieve(flb.in_data)
        except FlbError as exc:
            flb.retrieve_err = exc.err
            flb.retrieve_failures += 1
            return exc.err
        flb.retrieved = True
        flb.retrieve_err = 0
        return 0

    def liveupdate_flb_get_incoming(self, flb: Flb):
        if not self.enabled:
            return EOPNOTSUPP, None
        if flb.in_obj is None:
            err = self.luo_flb_retrieve_one(flb)
            if err:
                return err, None
        flb.in_count += 1                              # refcount_inc()
        return 0, flb.in_obj

    def liveupdate_flb_put_incoming(self, flb: Flb, log=None) -> None:
        """refcount_dec_and_test(); at exactly 0: retrieve first if nobody did (WARN_ON and
        return on error, the FLB stays unfinished), then finish()."""
        log = log or self.warn
        if flb.in_count <= 0 or flb.saturated:
            # refcount_t underflow: saturates and WARNs, never reaches "0 -> finish"
            flb.saturated = True
            if log is not None:
                log("refcount_t: underflow; use-after-free.")
            return
        flb.in_count -= 1
        if flb.in_count:
            return
        if not flb.retrieved:
            err = self.luo_flb_retrieve_one(flb)
            if err:
                if log is not None:
                    log(f"kernel/liveupdate/luo_flb.c: liveupdate_flb_put_incoming(): "
                        f"WARN_ON(err) ({err})")
                return
        flb.ops.finish(flb.in_obj)
        flb.in_obj = None
        flb.in_data = 0
        flb.finished = True

    def find_incoming_file(self, key: int):
        """(session name, file) of the first unfinished incoming file for device ``key``, in
        session then file order, or (None, None): the file a ``finish`` of that device is
        charged to (pcilu's lookup by device key, the low 48 bits of the file's token).
        Looked up in an index of the incoming files, built on first use and again if the
        sessions were replaced: a ``finish`` of every preserved device is one lookup each,
        not one scan of all files each (quadratic at thousands of files)."""
        idx = self._in_index
        if idx is None or idx[0] is not self.in_sessions:
            by_key: dict[int, list] = {}
            for name, files in self.in_sessions.items():
                for f in files:
                    by_key.setdefault(f.key, []).append((name, f))
            idx = self._in_index = (self.in_sessions, by_key)
        for name, f in idx[1].get(key, ()):
            if not f.finished:
                return name, f
        return None, None

    def finish_file(self, f: LuoFile) -> None:
        """luo_file_finish() for one file: handler finish, then one FLB put per linked FLB."""
        fh = self.handlers.get(f.handler)
        f.retrieved = True
        f.finished = True
        if fh is None:
            return
        fh.ops.finish(f)
        # luo_flb_file_finish(): one put per linked FLB, in reverse registration order
        for flb in reversed(fh.flbs):
            self.liveupdate_flb_put_incoming(flb)

    # -- hand-over ------------------------------------------------------------------------
    def serialize(self):
        """liveupdate_reboot(): sessions (creation order) and FLBs with count > 0."""
        sessions = [(name, [(f.handler, f.data, f.token) for f in files])
                    for name, files in self.sessions.items()]
        flbs = [(flb.compatible, flb.out_data, flb.out_count) for flb in self.flbs
                if flb.out_count > 0]
        return sessions, flbs

    # -- state ----------------------------------------------------------------------------
    def to_state(self) -> dict:
        return {"enabled": self.enabled,
                "flbs": [f.state() for f in self.flbs],
                "sessions": [[n, [f.to_list() for f in fs]] for n, fs in self.sessions.items()],
                "in_sessions": [[n, [f.to_list() for f in fs]]
                                for n, fs in self.in_sessions.items()]}

    def load_state(self, d: dict) -> None:
        by_name = {f.compatible: f for f in self.flbs}
        for fd in d.get("flbs", []):
            if fd["compatible"] in by_name:
                by_name[fd["compatible"]].load(fd)
        self.sessions = {n: [LuoFile.from_list(v) for v in fs] for n, fs in d.get("sessions", [])}
        self.in_sessions = {n: [LuoFile.from_list(v) for v in fs]
                            for n, fs in d.get("in_sessions", [])}
