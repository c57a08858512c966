# SPDX-License-Identifier: GPL-2.0-only
"""YAML with line numbers: mappings and lists that remember where each key and item was.

A scenario file is validated after parsing, and every complaint has to name ``file:line``
(conventions §1.7, "messages that say where"). PyYAML's node marks carry that position; this
loader keeps it on the constructed values (``LMap.lines[key]``, ``LList.lines[i]``) so the
validator can stay a plain walk over dicts and lists.
"""
from __future__ import annotations

import yaml

from pcilu_cli.fabric.yamlfmt import (bdf_safe_number, marked_mapping, marked_sequence,
                                      parse_marked_yaml)

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml parser: ~5x faster


class LMap(dict):
    """A mapping with ``line`` (1-based, where it starts) and ``lines`` (key -> line)."""
    line: int = 0
    lines: dict


class LList(list):
    """A sequence with ``line`` and ``lines`` (index -> line of each item)."""
    line: int = 0
    lines: list


class _Loader(_Base):
    pass


_map = marked_mapping(LMap, lambda key: isinstance(key, (str, int, bool)) or key is None)


_seq = marked_sequence(LList)


_number = bdf_safe_number


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _seq)
_Loader.add_constructor("tag:yaml.org,2002:int", _number("int"))
_Loader.add_constructor("tag:yaml.org,2002:float", _number("float"))


def parse(text: str, file: str):
    """Parse one YAML document into LMap/LList/scalars; syntax errors → BadInput(file:line)."""
    return parse_marked_yaml(_Loader, text, file)


def line_of(obj, key=None):
    """Line of ``obj[key]`` (or of ``obj``) if the loader recorded one."""
    if isinstance(obj, LMap):
        if key is not None and key in obj.lines:
            return obj.lines[key]
        return obj.line or None
    if isinstance(obj, LList):
        if isinstance(key, int) and 0 <= key < len(obj.lines):
            return obj.lines[key]
        return obj.line or None
    return None
