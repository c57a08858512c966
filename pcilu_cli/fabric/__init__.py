# SPDX-License-Identifier: GPL-2.0-only
"""The PCI fabric: config space per function, the physical topology, and its file formats.

Entry points:
    load_fabric(path) -> Fabric          auto-detects a YAML fabric, an ``lspci -x/-xxx/-xxxx``
                                         dump, a serialized fabric, or a sysfs directory;
                                         raises BadInput (file:line: field: message)
    parse_bdf / format_bdf               re-exported from ``abi/bdf.py`` (their one home)
Submodules: config (ConfigSpace), function_spec (config-space synthesis, below the model),
model (Function/RootBus/Fabric), build (FabricBuilder, firmware bus assignment), yamlfmt,
lspci, sysfs, capture, synth, quirks, render (tree/JSON rendering for `pcilu fabric show`).
Register names and config-space layouts are in ``abi/pci_regs.py`` and ``abi/pci_config.py``.
"""
from __future__ import annotations

# (typing.TYPE_CHECKING without importing typing, and pathlib only when a file is opened
# here: every submodule's import runs this one, and a kernel command needs neither)
TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from pathlib import Path

    from pcilu_cli.fabric import model

from pcilu_cli.abi.bdf import format_bdf, parse_bdf
from pcilu_cli.errors import BadInput

__all__ = ["load_fabric", "load_fabric_bytes", "format_bdf", "parse_bdf"]

def load_fabric(path) -> "model.Fabric":
    """Load a fabric from a YAML file, an lspci hex dump, a serialized fabric or a sysfs tree
    (a directory or a tar archive). ``-`` reads a YAML fabric, dump or serialized fabric from
    standard input."""
    if str(path) == "-":
        import sys
        return load_fabric_bytes(sys.stdin.buffer.read(), "<stdin>")
    from pathlib import Path
    p = Path(path)
    if p.is_dir():
        from pcilu_cli.fabric.sysfs import load_sysfs
        return load_sysfs(p)
    from pcilu_cli.fabric.capture import is_capture
    if is_capture(p):
        from pcilu_cli.fabric.capture import load_capture
        return load_capture(p)
    if p.suffix in (".tar", ".bz2", ".gz", ".xz", ".tgz") and _is_tar(p):
        from pcilu_cli.fabric.sysfs import load_sysfs
        return load_sysfs(p)
    if p.suffix not in (".yaml", ".yml"):
        fab = _load_dump_streaming(p)
        if fab is not None:
            return fab
    try:
        data = p.read_bytes()
    except OSError as e:
        raise BadInput(f"cannot read: {e.strerror or e}", file=str(path)) from None
    return load_fabric_bytes(data, str(path), suffix=p.suffix)


def _load_dump_streaming(p: Path):
    """An lspci dump read line by line from the file (a 4,096-function `-xxxx` dump is 55 MB
    of text: holding it, its decoded copy and its lines costs ~10x lspci's memory). None when
    the file is something else (serialized fabric, YAML) or cannot be opened here: the caller
    then reads it whole and says what it is."""
    try:
        f = open(p, "rb")
    except OSError:
        return None
    with f:
        head = f.read(1 << 16)
        if not head or b"\0" in head:          # a serialized fabric, or no text at all
            return None
        try:
            head_text = head.decode("utf-8")
        except UnicodeDecodeError as e:
            if e.start < len(head) - 4:   # not a cut multi-byte character at the end
                return None
            head_text = ""
        if _looks_yaml(head_text):
            return None
        f.seek(0)
        from pcilu_cli.fabric.lspci import parse_dump
        return parse_dump(_text_lines(f, str(p)), str(p))


def _text_lines(f, name: str):
    """Lines of the binary file ``f`` as text; a byte that is not UTF-8 is bad input naming
    the line."""
    for n, raw in enumerate(f, 1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadInput(f"not a text file (YAML or lspci dump expected): byte "
                           f"{raw[e.start]:#04x} is not UTF-8", file=name, line=n) from None


def load_fabric_bytes(data: bytes, name: str, *, suffix: str = "") -> "model.Fabric":
    """A fabric from the bytes of a YAML file, an lspci dump or a serialized fabric."""
    from pcilu_cli.abi.formats import identify
    if identify(data[:8], name).kind == "pcilu_fabric":
        from pcilu_cli.fabric.model import Fabric
        try:
            return Fabric.from_bytes(data)
        except BadInput as e:
            raise e.in_file(name) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput("not a text file (YAML or lspci dump expected)", file=name,
                       offset=e.start) from None
    if suffix in (".yaml", ".yml") or _looks_yaml(text):
        from pcilu_cli.fabric.yamlfmt import load_yaml_text
        return load_yaml_text(text, name)
    from pcilu_cli.fabric.lspci import parse_dump
    return parse_dump(text, name)


def _looks_yaml(text: str) -> bool:
    import io
    for line in io.StringIO(text):    # lazily: only the first lines are looked at
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        return s.startswith("pcilu_fabric") or s.startswith("---")
    return False


def _is_tar(p: Path) -> bool:
    import tarfile
    try:
        return tarfile.is_tarfile(p)
    except OSError:
        return False


def __getattr__(name):  # lazy re-exports keep `import pcilu_cli.fabric` cheap
    if name in ("Fabric", "Function", "RootBus", "SriovInfo"):
        from pcilu_cli.fabric import model
        return getattr(model, name)
    if name == "ConfigSpace":
        from pcilu_cli.fabric.config import ConfigSpace
        return ConfigSpace
    raise AttributeError(name)
