# SPDX-License-Identifier: GPL-2.0-only
"""A serialized fabric decoded on demand: what a state file's fabric note becomes at load.

:func:`from_bytes` checks and inflates the note and reads its JSON meta, and nothing more
(the uids stay in the note's uid column, :mod:`pcilu_cli.fabric.uid_column`, until asked
for). ``by_uid(uid)`` then hands out the one :class:`~pcilu_cli.fabric.model.Function`
asked for (with its config space, knobs, and the functions above it: upstream bridges, a
VF's PF), which is all a kernel command needs for the devices it touches. Anything else —
routing a config cycle, walking the functions, the root buses, a copy, a save after the
hardware changed — builds the whole fabric first, keeping every Function already handed out,
and the object is a plain :class:`~pcilu_cli.fabric.model.Fabric` from then on.

``to_bytes()`` of a fabric nobody changed returns the note it was read from (no config space
written since, no knob changed on a function handed out).
"""
from __future__ import annotations

from pcilu_cli.errors import BadInput
from pcilu_cli.fabric.config import CONFIG_EPOCH
from pcilu_cli.fabric.model import (
    FABRIC_MAGIC, FABRIC_RECORD, Fabric, Function, RootBus, decode_parts, layout_of, record_of,
    records_of,
)

FIELD = "PCILU fabric note"


def _builds(name):
    """A Fabric container attribute: touching it on a lazy fabric builds the whole fabric."""
    def get(self):
        self.materialize()
        return self.__dict__[name]

    def set_(self, value):
        self.materialize()
        self.__dict__[name] = value
    return property(get, set_)


class LazyFabric(Fabric):
    """See the module docstring. Built with :func:`from_bytes`."""

    roots = _builds("roots")
    _by_uid = _builds("_by_uid")
    _domains = _builds("_domains")
    _domain_nums = _builds("_domain_nums")
    _route_cache = _builds("_route_cache")
    _link_index = _builds("_link_index")

    def __init__(self, data: bytes, meta, table, blobs, uids, file):
        # not Fabric.__init__: its containers are the properties above until the build
        d = self.__dict__
        d["name"], d["source"], d["platform"] = meta["name"], meta["source"], meta["platform"]
        d["diagnostics"], d["_encoded"], d["_cache_epoch"] = [], None, -1
        self._data, self._meta, self._table, self._blobs, self._file = \
            data, meta, table, blobs, file
        self._n = len(table) // FABRIC_RECORD.size
        # uid -> record: the note's uid column (fabric/uid_column.py), nothing decoded yet
        self._uids = uids
        self._premade: dict[int, Function] = {}
        self._temp_roots: dict[int, RootBus] = {}
        self._epoch = CONFIG_EPOCH[0]

    # -- what works without building -------------------------------------------------------
    def __len__(self):
        return self._n

    def has_uid(self, uid: str) -> bool:
        return self._guard(self._uids.index, uid) is not None

    def by_uid(self, uid: str) -> Function:
        # (_guard() written out: one handler around the lookup and the build, per device a
        # kernel note builds)
        try:
            i = self._uids.index(uid)
            fn = None if i is None else self._make(i)
        except BadInput:
            raise
        except Exception as exc:  # noqa: BLE001 - any inconsistency is a corrupt note
            raise BadInput(f"fabric note is corrupt: {exc!r}", file=self._file,
                           field=FIELD) from None
        if fn is None:
            raise KeyError(uid)
        return fn

    def _guard(self, fn, arg):
        try:
            return fn(arg)
        except BadInput:
            raise
        except Exception as exc:  # noqa: BLE001 - any inconsistency is a corrupt note
            raise BadInput(f"fabric note is corrupt: {exc!r}", file=self._file,
                           field=FIELD) from None

    def _make(self, i: int) -> Function:
        fn = self._premade.get(i)
        if fn is not None:
            return fn
        parent, rix, devfn, isvf, vfi, delta, cfg, uid, knobs = record_of(
            self._meta, i, FABRIC_RECORD.unpack_from(self._table, i * FABRIC_RECORD.size),
            self._blobs, self._uids)
        if not -1 <= parent < i:
            raise BadInput(f"record {i} names record {parent} as its parent",
                           file=self._file, field=FIELD)
        fn = self._premade[i] = Function(uid, devfn, cfg, knobs)
        fn.fabric = self
        if isvf:
            pf = self._make(parent)
            fn.physfn, fn.vf_index, fn.vbus_delta = pf, vfi, delta
            fn.upstream, fn.root = pf.upstream, pf.root
        elif parent >= 0:
            up = self._make(parent)
            fn.upstream, fn.root = up, up.root
        else:
            rb = self._temp_roots.get(rix)
            if rb is None:       # the real root bus comes with the build
                dom, num = self._meta["roots"][rix]
                rb = self._temp_roots[rix] = RootBus(dom, num)
            fn.root = rb
        return fn

    def _unchanged(self) -> bool:
        if CONFIG_EPOCH[0] != self._epoch:
            return False
        knobs = self._meta["knobs"]
        return all((fn._knobs or None) == (knobs.get(str(i)) or None)
                   for i, fn in self._premade.items())

    def to_bytes(self) -> bytes:
        if self._unchanged():
            return self._data
        self.materialize()
        return self.to_bytes()

    def forget_encoded(self) -> None:
        self.materialize()
        self._encoded = None

    # -- the build ---------------------------------------------------------------------------
    def materialize(self) -> None:
        """Build every Function (keeping those handed out); the object is a Fabric after."""
        if type(self) is not LazyFabric:
            return
        unchanged = self._unchanged()
        data, meta, file, uids, table = self._data, self._meta, self._file, self._uids, \
            self._table
        try:
            recs = records_of(meta, table, self._blobs, uids)
            premade = self._premade
            for k in ("_data", "_meta", "_table", "_blobs", "_file", "_n", "_uids", "_premade",
                      "_temp_roots", "_epoch"):
                del self.__dict__[k]
            self.__class__ = Fabric
            Fabric.from_records(meta["name"], meta["source"], meta["platform"],
                                [tuple(r) for r in meta["roots"]], recs, copy_cfg=False,
                                into=self, premade=premade, layout=layout_of(table, uids))
        except BadInput:
            raise
        except Exception as exc:  # noqa: BLE001
            raise BadInput(f"fabric note is corrupt: {exc!r}", file=file, field=FIELD) \
                from None
        if unchanged:
            # the note stays valid until something changes (what Fabric.from_bytes keeps)
            knobs = meta["knobs"]
            fp = (self.name, _json_fp(self.source, self.platform), len(self._by_uid),
                  [(uids[i], sorted(knobs[str(i)].items(), key=repr))
                   for i in _knob_rows(knobs, len(uids))])
            self._encoded = (CONFIG_EPOCH[0], data, fp)


def _knob_rows(knobs: dict, n: int) -> list:
    """The record indexes with knobs, ascending (the keys of the meta's knob map that name a
    record: ``str(i)``)."""
    return sorted(int(k) for k, v in knobs.items()
                  if v and k.isascii() and k.isdigit() and str(int(k)) == k and int(k) < n)


def _json_fp(source, platform) -> str:
    import json
    return json.dumps([source, platform], sort_keys=True, default=repr)


def from_bytes(data: bytes, *, file=None, budget=None) -> Fabric:
    """A fabric decoded on demand from its serialization (see the module docstring);
    ``budget``: the :class:`~pcilu_cli.abi.untrusted.InflateBudget` of the file it came in."""
    if data[:len(FABRIC_MAGIC)] != FABRIC_MAGIC:
        raise BadInput("not a serialized pcilu fabric (bad magic)", offset=0)
    try:
        meta, table, blobs, uids = decode_parts(data, budget)
        if len(table) % FABRIC_RECORD.size:
            raise BadInput(f"a record table of {len(table)} bytes", field="table")
        return LazyFabric(bytes(data), meta, table, blobs, uids, file)
    except BadInput:
        raise
    except Exception as e:  # noqa: BLE001 - any corruption is bad input
        raise BadInput(f"corrupt serialized fabric: {type(e).__name__}: {e}") from None
