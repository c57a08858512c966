# SPDX-License-Identifier: GPL-2.0-only
"""What a file looks like, in words, for the one-line message when a command is given the
wrong kind of file ("a rehearsal scenario, not a fabric").

Only for messages: it never decides how a file is decoded (that is the detection of each
reader). It looks at the first bytes only, so it is cheap on any input.
"""
from __future__ import annotations

FDT_MAGIC = b"\xd0\x0d\xfe\xed"


def describe(head: bytes) -> str:
    """A short noun phrase for the content that starts with ``head`` (the first few KiB)."""
    if not head:
        return "an empty file"
    if head[:4] == b"\x7fELF":
        return "an ELF file (a pcilu state file or a memory dump)"
    if head[:8] == b"PCILUFAB":
        return "a serialized fabric (from `pcilu generate`)"
    if head[:4] == FDT_MAGIC:
        return "a flattened device tree"
    if head[:2] == b"\x1f\x8b":
        return "a gzip file (a capture or a compressed archive)"
    if head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return "a compressed archive"
    if head[257:262] == b"ustar":
        return "a tar archive"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:     # not just a character cut at the end of ``head``
            return f"binary data ({len(head)}+ bytes; e.g. a raw blob such as a struct pci_ser)"
        text = head[:e.start].decode("utf-8")
    if "\0" in text:
        return "binary data (e.g. a raw blob such as a struct pci_ser)"
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("pcilu_scenario"):
            return "a rehearsal scenario (run it with `pcilu rehearse`)"
        if s.startswith("pcilu_fabric"):
            return "a YAML fabric"
        if s.startswith(("{", "[")):
            return "a JSON document"
        break
    return "a text file"


def describe_file(path, limit: int = 4096) -> str | None:
    """:func:`describe` of a regular file's first bytes; None if it cannot be read."""
    try:
        with open(path, "rb") as f:
            return describe(f.read(limit))
    except OSError:
        return None
