# SPDX-License-Identifier: GPL-2.0-only
"""Fast codecs derived from the Construct declarations, and the one decode choke point.

The Construct layouts in this package are the single written form of every hand-over struct
(and the C check holds them against gcc). Hot paths need :mod:`struct` speed, so instead of
writing a format string by hand, a module asks for the codec of a declaration:

    fast(layout) -> struct.Struct        one record, fields flattened in declaration order
                                          (nested structs inline, arrays of numbers
                                          expanded, byte strings as ``Ns``, padding as ``Nx``)
    offsetof(layout, "a.b") -> int       byte offset of a (nested) field
    fields(layout) -> [(path, off, size)] every field, nested ones included
    field_codec(layout, "f") -> struct.Struct   the codec of one numeric field
    scalar("<I") -> struct.Struct        a lone little-/big-endian number (not a layout)
    lazy_layouts(__name__, layouts_module)  a module __getattr__ re-exporting the declarations
    cached(module, name) -> (struct.Struct, {path: offset})   the codec of a declaration as
                                          derived once and kept in :mod:`codec_cache`: no
                                          Construct import (start-up of ``inspect``)

    parse(layout, data, offset=0, *, file=None, what=None) -> Container
    unpack_from(layout, data, offset=0, *, file=None, what=None) -> tuple

:func:`parse` and :func:`unpack_from` are where short data and Construct errors become
:class:`~pcilu_cli.errors.BadInput` naming the file, the byte offset and the struct (as
pyelftools' ``struct_parse`` does for ELF): no decoder lets a ``struct.error`` or a
``StreamError`` out.

``python -m pcilu_cli.abi.codec`` rewrites :mod:`codec_cache` from the declarations (the test
of the cache says when that is needed).
"""
from __future__ import annotations

import struct

from pcilu_cli.errors import BadInput

_CODECS: dict[int, tuple[object, struct.Struct]] = {}
_SCALARS: dict[str, struct.Struct] = {}
_CACHED: dict[tuple[str, str], tuple[struct.Struct, dict]] = {}

# Construct is imported on first use: decoding through cached codecs never needs it
cs = None


def _cs():
    global cs
    if cs is None:
        import construct
        cs = construct
    return cs


def _inner(sc):
    return sc.subcon if isinstance(sc, _cs().Renamed) else sc


def _endian(fmt: str) -> str:
    return fmt[0] if fmt[0] in "<>=!@" else "="


def _items(layout) -> list[tuple[str, str]]:
    """(byte order, struct code) of every leaf, declaration order."""
    _cs()
    out = []
    for sc in layout.subcons:
        inner = _inner(sc)
        if isinstance(inner, cs.FormatField):
            out.append((_endian(inner.fmtstr), inner.fmtstr.lstrip("<>=!@")))
        elif isinstance(inner, cs.Struct):
            out.extend(_items(inner))
        elif isinstance(inner, cs.Array) and isinstance(inner.subcon, cs.FormatField):
            f = inner.subcon.fmtstr
            out.append((_endian(f), f"{inner.count}{f.lstrip('<>=!@')}"))
        elif isinstance(inner, cs.Padded) and isinstance(inner.subcon, type(cs.Pass)):
            out.append(("", f"{inner.sizeof()}x"))
        else:                                   # Bytes, PaddedString, arrays of structs ...
            out.append(("", f"{inner.sizeof()}s"))
    return out


def fast(layout) -> struct.Struct:
    """The :class:`struct.Struct` with exactly the bytes of ``layout`` (cached)."""
    hit = _CODECS.get(id(layout))
    if hit is not None and hit[0] is layout:
        return hit[1]
    items = _items(layout)
    orders = {o for o, _c in items if o}
    if len(orders) > 1:
        raise TypeError(f"layout mixes byte orders {sorted(orders)}")
    order = orders.pop() if orders else "<"
    codec = struct.Struct(order + "".join(c for _o, c in items))
    if codec.size != layout.sizeof():
        raise TypeError(f"codec of {codec.format!r} is {codec.size} bytes, the layout "
                        f"{layout.sizeof()}")
    _CODECS[id(layout)] = (layout, codec)
    return codec


def scalar(fmt: str) -> struct.Struct:
    """A codec of one number (``"<Q"``, ``">I"``): register widths, FDT cells."""
    s = _SCALARS.get(fmt)
    if s is None:
        s = _SCALARS[fmt] = struct.Struct(fmt)
    return s


def field_codec(layout, field: str) -> struct.Struct:
    """The codec of one numeric (top-level) field, to read or patch it in place at
    :func:`offsetof`."""
    _cs()
    for sc in layout.subcons:
        if sc.name == field:
            inner = _inner(sc)
            if not isinstance(inner, cs.FormatField):
                raise TypeError(f"field {field!r} is not a number")
            return scalar(inner.fmtstr)
    raise KeyError(f"no field {field!r} in the layout")


def fields(layout, base: int = 0, prefix: str = "") -> list[tuple[str, int, int]]:
    """``(path, offset, size)`` of every field, nested ones as ``outer.inner``."""
    out = []
    off = base
    for sc in layout.subcons:
        size = sc.sizeof()
        path = prefix + (sc.name or f"<unnamed@{off}>")
        out.append((path, off, size))
        inner = _inner(sc)
        if isinstance(inner, _cs().Struct):
            out.extend(fields(inner, off, path + "."))
        off += size
    return out


def offsetof(layout, field: str) -> int:
    """offsetof(): the byte offset of ``field`` (``"hdr.count"`` for nested ones)."""
    for path, off, _size in fields(layout):
        if path == field:
            return off
    raise KeyError(f"no field {field!r} in the layout")


def _name(layout, what) -> str:
    return what or getattr(layout, "name", None) or "struct"


def unpack_from(layout, data, offset: int = 0, *, file=None, what: str | None = None) -> tuple:
    """The fast codec's ``unpack_from``; data too short for the struct is :class:`BadInput`."""
    codec = fast(layout)
    if offset < 0 or len(data) - offset < codec.size:
        have = max(0, len(data) - offset)
        raise BadInput(f"truncated {_name(layout, what)}: {have} bytes, need {codec.size}",
                       file=file, offset=offset, field=_name(layout, what))
    return codec.unpack_from(data, offset)


def parse(layout, data, offset: int = 0, *, file=None, what: str | None = None):
    """``layout.parse`` at ``offset``; short data and every Construct error are
    :class:`BadInput` naming the file, offset and the field path Construct reports."""
    size = layout.sizeof()
    if offset < 0 or len(data) - offset < size:
        have = max(0, len(data) - offset)
        raise BadInput(f"truncated {_name(layout, what)}: {have} bytes, need {size}",
                       file=file, offset=offset, field=_name(layout, what))
    try:
        return layout.parse(bytes(data[offset:offset + size]))
    except _cs().ConstructError as e:
        path = getattr(e, "path", None) or ""
        raise BadInput(f"bad {_name(layout, what)}: {e}", file=file, offset=offset,
                       field=f"{_name(layout, what)}{path and ' ' + path}") from None


def derive(module: str, name: str) -> tuple[str, dict]:
    """(struct format, {field path: offset}) of the declaration ``module.name``, derived from
    Construct now (what :mod:`codec_cache` keeps)."""
    import importlib
    layout = getattr(importlib.import_module(module), name)
    return fast(layout).format, {path: off for path, off, _size in fields(layout)}


def cached(module: str, name: str) -> tuple[struct.Struct, dict]:
    """The fast codec and field offsets of the declaration ``module.name`` as kept in
    :mod:`codec_cache` (derived from Construct when the cache does not hold it)."""
    key = (module, name)
    hit = _CACHED.get(key)
    if hit is None:
        from pcilu_cli.abi.codec_cache import CODECS
        kept = CODECS.get(f"{module}:{name}")
        if kept is None and _GENERATING:
            # rewriting the cache: the declaring module may import the one asking (its
            # constants); a placeholder, never kept, breaks that circle
            from collections import defaultdict
            return struct.Struct("x"), defaultdict(int)
        fmt, offsets = kept or derive(module, name)
        hit = _CACHED[key] = (struct.Struct(fmt), dict(offsets))
    return hit


_GENERATING = False


def lazy_layouts(module: str, layouts: str):
    """The module ``__getattr__`` that hands on the Construct declarations of ``layouts``
    (``pci.pci_dev_ser`` ...) on first use, so importing ``module`` never imports Construct:
    ``__getattr__ = lazy_layouts(__name__, _LAYOUTS)``."""
    def __getattr__(name):
        if name.startswith("__"):      # __path__, __wrapped__ ...: asked by importers, not ours
            raise AttributeError(name)
        import importlib
        mod = importlib.import_module(layouts)
        if name in mod.LAYOUTS:
            return getattr(mod, name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return __getattr__


def cached_field(module: str, name: str, field: str) -> struct.Struct:
    """The codec of one numeric field of the declaration ``module.name`` (as
    :func:`field_codec`), from the codec cache: no Construct import."""
    import re
    codec, offsets = cached(module, name)
    order, want, off = codec.format[0], offsets[field], 0
    for count, code in re.findall(r"(\d*)([a-zA-Z?])", codec.format[1:]):
        size = struct.calcsize(order + count + code)
        if off == want:
            if count or code in "sx":
                raise TypeError(f"field {field!r} is not a number")
            return scalar(order + code)
        off += size
    raise KeyError(f"no field {field!r} in {name}")


CACHED_MODULES = ("pcilu_cli.abi.pci_layouts", "pcilu_cli.abi.luo_layouts",
                  "pcilu_cli.abi.kho_layouts", "pcilu_cli.abi.fdt_layouts",
                  "pcilu_cli.abi.kho_block_layouts",
                  "pcilu_cli.abi.elf_layouts", "pcilu_cli.abi.fabric_file_layouts",
                  "pcilu_cli.abi.kernel_note_layouts")


def cache_source() -> str:
    """The text of :mod:`codec_cache`, derived from every declaration of CACHED_MODULES."""
    import importlib
    lines = ["# SPDX-License-Identifier: GPL-2.0-only",
             '"""Fast-codec formats derived from the Construct declarations (generated by',
             "``python -m pcilu_cli.abi.codec``; a test holds it equal to what Construct",
             'derives). Read by :func:`pcilu_cli.abi.codec.cached`."""', "", "CODECS = {"]
    for module in CACHED_MODULES:
        for name in importlib.import_module(module).LAYOUTS:
            fmt, offsets = derive(module, name)
            lines.append(f"    {module + ':' + name!r}: ({fmt!r}, {offsets!r}),")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":          # rewrite the cache next to this module
    from pathlib import Path
    import pcilu_cli.abi.codec as _self        # the module the layouts import, not __main__
    _self._GENERATING = True
    Path(_self.__file__).with_name("codec_cache.py").write_text(_self.cache_source())
