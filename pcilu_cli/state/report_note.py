# SPDX-License-Identifier: GPL-2.0-only
"""The enumerate document kept with a generation: the optional ``NT_PCILU_REPORT`` note.

``pcilu kexec`` boots the next generation and enumerates it, with every ``pci_dev`` and
function in memory; the state file it writes keeps the ``enumerate --json`` document of that
boot, so that ``pcilu enumerate --json`` of the new state prints it instead of rebuilding the
whole generation from the file only to describe it again (at 65,536 functions: 1.5 s of
rebuilding and rendering against 0.1 s of inflating).

* Written only on request (:meth:`~pcilu_cli.state.machine.Machine.to_bytes` with the caller's
  JSON renderer, so the stored text is byte for byte what that caller prints) and never for a
  panicked generation. A state loaded from the file does not write it back: any later save
  (``finish``, ``preserve`` ...) drops it, so a stored document always describes the state it
  was written with.
* Rendered device by device into one zlib stream: a 262,144-device document (88 MB) is never
  one string in memory.
* Read as untrusted input: inflated no further than a bound from the fabric's function count
  and the log's length, and it must be UTF-8 text that opens as an enumerate document;
  anything else is :class:`~pcilu_cli.errors.BadInput` naming the note.
"""
from __future__ import annotations

import zlib

from pcilu_cli.errors import BadInput

FIELD = "PCILU report note"
LEVEL = 1
_SLICE = 4096                       # devices rendered per piece
# what the document may take: a device entry is ~350 bytes; the log lines appear once more
# (JSON-escaped: at most 6 bytes for one of the log's)
REPORT_FIXED = 1 << 20
REPORT_PER_FUNCTION = 2048
_HEAD = '{"kind":"enumerate",'
_SLOT = "\x00pcilu devices\x00"     # stands for the device list while the rest is rendered


def encode(machine, dumps) -> bytes:
    """The note: ``dumps(machine.report())`` compressed, rendered a slice of devices at a
    time (``dumps`` renders compact JSON: ``"[" + ",".join(items) + "]"`` for a list)."""
    doc = machine.report()
    devices = doc["devices"]
    doc["devices"] = _SLOT
    text = dumps(doc)
    mark = dumps(_SLOT)
    at = text.index(mark)            # the keys before "devices" are fixed names and numbers
    z = zlib.compressobj(LEVEL)
    out = [z.compress(text[:at].encode()), z.compress(b"[")]
    for i in range(0, len(devices), _SLICE):
        piece = dumps(devices[i:i + _SLICE])[1:-1]       # the slice's items, comma-separated
        out.append(z.compress(((',' if i else '') + piece).encode()))
    del devices
    out.append(z.compress(("]" + text[at + len(mark):]).encode()))
    out.append(z.flush())
    return b"".join(out)


def decode_bytes(raw: bytes, functions: int, log_bytes: int, *, file=None) -> bytes:
    """The stored document as its UTF-8 bytes, checked as described in the module docstring
    (what `enumerate --json` writes to stdout as it is: no 88 MB string at 262,144 devices)."""
    limit = REPORT_FIXED + REPORT_PER_FUNCTION * functions + 6 * log_bytes
    from pcilu_cli.abi.untrusted import inflate     # cut short / trailing bytes: refused there
    data = inflate(raw, limit, file=file, field=FIELD, what="the stored enumerate document")
    if not data.isascii():          # (ASCII is UTF-8; anything else is decoded to check it)
        try:
            data.decode()
        except UnicodeDecodeError as exc:
            raise BadInput(f"the stored enumerate document is not UTF-8 text (byte "
                           f"{exc.start})", file=file, field=FIELD) from None
    if not (data.startswith(_HEAD.encode()) and data.endswith(b"}")):
        raise BadInput("the stored enumerate document is not one (it must be a JSON object "
                       'opening with "kind": "enumerate")', file=file, field=FIELD)
    return data
