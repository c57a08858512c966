# SPDX-License-Identifier: GPL-2.0-only
"""LUO (Live Update Orchestrator) as the PCI core sees it: sessions, files, FLB refcounts.

Models ``kernel/liveupdate/luo_session.c``, ``luo_file.c`` and ``luo_flb.c`` of the liveupdate
``next`` branch the v6 series depends on (``kho-luo-abi.md`` §2.4–§2.7, v6 spec §3.1):

* outgoing: the first preserved file of a handler linked to an FLB calls the FLB's
  ``preserve`` before the handler's own ``preserve``; each further file bumps the count; the
  last unpreserved file calls the FLB's ``unpreserve`` after the handler's ``unpreserve``.
  A failing handler ``preserve`` drops the FLB reference it took (spec: UNCONFIRMED, expected).
* incoming: the first ``liveupdate_flb_get_incoming()`` looks the record up by exact name, sets
  the refcount to the record's ``count``, calls ``retrieve``; every successful get takes a
  reference; the last put calls ``finish``. A failed retrieve is sticky (simulator choice, spec
  §3.4: later gets return the same error without a second retrieve).

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
        self.retrieve_err = 0      # sticky negative errno of a failed retrieve
        self.finished = False

    def state(self) -> dict:
        return {"compatible": self.compatible, "out_count": self.out_count,
                "out_data": self.out_data, "in_count": self.in_count, "in_data": self.in_data,
                "retrieved": self.retrieved, "retrieve_err": self.retrieve_err,
                "finished": self.finished}

    def load(self, d: dict) -> None:
        for k in ("out_count", "out_data", "in_count", "in_data", "retrieved", "retrieve_err",
                  "finished"):
            setattr(self, k, d[k])


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

    def __init__(self, enabled: bool, incoming=None):
        self.enabled = enabled
        self.incoming = incoming if enabled else None  # source of incoming FLBs / sessions
        self.handlers: dict[str, FileHandler] = {}
        self.flbs: list[Flb] = []                      # registration order
        self.sessions: dict[str, list[LuoFile]] = {}   # outgoing, creation order
        self.in_sessions: dict[str, list[LuoFile]] = {}
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
        if not self.enabled:
            return EOPNOTSUPP
        if fh.compatible not in self.handlers:
            return EINVAL
        if flb in fh.flbs:
            return EEXIST
        known = next((f for f in self.flbs if f.compatible == flb.compatible), None)
        if known is not None and known is not flb:
            return EEXIST
        if known is None:
            if len(self.flbs) >= LUO_FLB_MAX:
                return -_e.ENOSPC
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
    def liveupdate_flb_get_incoming(self, flb: Flb):
        if not self.enabled:
            return EOPNOTSUPP, None
        if flb.finished or self.incoming is None:
            return ENODATA, None
        if not flb.retrieved:
            if flb.retrieve_err:
                return flb.retrieve_err, None
            rec = self.incoming.flb(flb.compatible)
            if rec is None:
                return ENOENT, None
            flb.in_data, flb.in_count = rec[0], rec[1]
            try:
                flb.in_obj = flb.ops.retrieve(flb.in_data)
            except FlbError as exc:
                flb.retrieve_err = exc.err
                return exc.err, None
            flb.retrieved = True
        flb.in_count += 1
        return 0, flb.in_obj

    def liveupdate_flb_put_incoming(self, flb: Flb) -> None:
        flb.in_count -= 1
        if flb.in_count <= 0 and not flb.finished:
            self._flb_finish(flb)

    def _flb_finish(self, flb: Flb) -> None:
        if not flb.retrieved and not flb.retrieve_err and self.incoming is not None:
            rec = self.incoming.flb(flb.compatible)
            if rec is not None:
                try:
                    flb.in_obj = flb.ops.retrieve(rec[0])
                    flb.retrieved = True
                except FlbError as exc:
                    flb.retrieve_err = exc.err
        if flb.retrieved:
            flb.ops.finish(flb.in_obj)
        flb.in_obj = None
        flb.finished = True

    def find_incoming_file(self, key: int):
        for name, files in self.in_sessions.items():
            for f in files:
                if f.key == key and not f.finished:
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
        for flb in fh.flbs:
            if not flb.finished and flb.retrieved:
                self.liveupdate_flb_put_incoming(flb)
            elif not flb.finished:
                # nobody retrieved yet: LUO still counts the file down from the record's count
                rec = self.incoming.flb(flb.compatible) if self.incoming is not None else None
                if rec is None:
                    continue
                if not flb.in_count:
                    flb.in_data, flb.in_count = rec[0], rec[1]
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
