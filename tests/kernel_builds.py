# SPDX-License-Identifier: GPL-2.0-only
"""Kernel builds the tests make themselves: a tiny vmlinux (ELF) carrying the ABI strings a
profile's kernel would carry, a bzImage-shaped file around a compressed payload, kernel
configs and directories holding them. Nothing here knows pcilu's answers: each build is
described by the strings a real kernel of that series has."""
from __future__ import annotations

import bz2
import gzip
import lzma
import struct
from pathlib import Path

# what each series' kernel carries (kho-luo-abi.md §0/§4/§6, pci-liveupdate-v6.md §1.3)
SERIES = {
    "v6-p01": {"kho": "kho-v3", "luo": "luo-v1", "pci": "pci-v1", "version": None},
    "v6-p05": {"kho": "kho-v3", "luo": "luo-v1", "pci": "pci-v2", "version": None},
    "v6": {"kho": "kho-v3", "luo": "luo-v1", "pci": "pci-v3", "version": None},
    "v7": {"kho": "kho-v4", "luo": "luo-v5", "pci": "pci-v2", "version": None},
    "v8": {"kho": "kho-v4", "luo": "luo-v5", "pci": None, "version": 1},
    "v9": {"kho": "kho-v4", "luo": "luo-v5", "pci": None, "version": 2},
}
VERSION_PANIC = b"Incoming PCI FLB version (v%d) is incompatible with this kernel (v%d)\n"


def vmlinux(release="7.1.0-test", kho=None, luo=None, pci=None, version_era=False,
            pci_code=True, filler=4096) -> bytes:
    """An ELF64 header and a .rodata-like blob with the strings a kernel links in."""
    hdr = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHI", 2, 62, 1)
    hdr += bytes(64 - len(hdr))
    parts = [b"\0Linux version " + release.encode() + b" (gcc 14) #1 SMP PREEMPT_DYNAMIC\n\0",
             b"\0pci\0bus\0"]
    for s in (kho, luo, pci):
        if s:
            parts.append(b"\0" + s.encode() + b"\0")
    if kho:
        parts.append(b"\0luo-session-v2\0luo-flb-v1\0" if luo == "luo-v1" else b"\0")
    if pci_code and pci or version_era:
        parts.append(b"\x016PCI: liveupdate: Registering file handler\0")
        parts.append(b"\x016%s %s: Device will be preserved across next Live Update\n\0")
    if version_era:
        parts.append(b"\x010" + VERSION_PANIC + b"\0")
    return hdr + bytes(filler) + b"".join(parts) + bytes(filler)


def for_profile(name: str, release="7.1.0-test") -> bytes:
    s = SERIES[name]
    return vmlinux(release, s["kho"], s["luo"], s["pci"], version_era=s["version"] is not None)


def _lz4_legacy(data: bytes) -> bytes:
    import lz4.block
    out = [struct.pack("<I", 0x184C2102)]
    for i in range(0, len(data), 8 << 20):
        blk = lz4.block.compress(data[i:i + (8 << 20)], store_size=False)
        out.append(struct.pack("<I", len(blk)) + blk)
    return b"".join(out)


def compress(kind: str, data: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    if kind == "xz":
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    if kind == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_ALONE)
    if kind == "bzip2":
        return bz2.compress(data)
    if kind == "zstd":
        import zstandard
        return zstandard.ZstdCompressor().compress(data)
    if kind == "lz4":
        return _lz4_legacy(data)
    raise ValueError(kind)


def bzimage(payload_elf: bytes, kind="gzip", release="7.1.0-test", *, header_offsets=True,
            cut=0) -> bytes:
    """x86 boot-protocol shape: setup sectors with "HdrS" at 0x202, the kernel_version
    string the header points at, then the compressed vmlinux (``cut`` bytes chopped off its
    end to make a truncated image)."""
    setup_sects = 3
    pm = (setup_sects + 1) * 512
    comp = compress(kind, payload_elf)
    head = bytearray(pm)
    head[0x1F1] = setup_sects
    head[0x1FE:0x200] = b"\x55\xaa"
    head[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", head, 0x206, 0x020F)
    ver = (release + " (builder@test) #1 SMP").encode() + b"\0"
    struct.pack_into("<H", head, 0x20E, 0x400 - 0x200)
    head[0x400:0x400 + len(ver)] = ver
    decompressor = b"\x90" * 512 + b"not the payload\0"
    if header_offsets:
        struct.pack_into("<II", head, 0x248, len(decompressor), len(comp))
    body = bytes(head) + decompressor + comp + b"\0" * 64
    return body[:len(body) - 64 - cut] if cut else body


def config(release="7.1.0", *, kho=True, luo=True, pci=True, version_line=True,
           mention_absent=True) -> str:
    lines = ["#", "# Automatically generated file; DO NOT EDIT."]
    if version_line:
        lines.append(f"# Linux/x86 {release} Kernel Configuration")
    lines += ["#", "CONFIG_64BIT=y", "CONFIG_PCI=y", "CONFIG_ARCH_SUPPORTS_KEXEC_HANDOVER=y"]
    for opt, on in (("KEXEC_HANDOVER", kho), ("LIVEUPDATE", luo), ("PCI_LIVEUPDATE", pci)):
        if on:
            lines.append(f"CONFIG_{opt}=y")
        elif mention_absent:
            lines.append(f"# CONFIG_{opt} is not set")
    return "\n".join(lines) + "\n"


def build_dir(dest: Path, profile: str, *, kind="xz", headers=True) -> Path:
    """An unpacked kernel package: boot/vmlinuz-R, boot/config-R, and (build tree) the
    header that defines PCI_LUO_FLB_VERSION in the version-field era."""
    rel = f"7.1.0-{profile}"
    (dest / "boot").mkdir(parents=True, exist_ok=True)
    (dest / "boot" / f"vmlinuz-{rel}").write_bytes(
        bzimage(for_profile(profile, rel), kind, rel))
    (dest / "boot" / f"config-{rel}").write_text(config("7.1.0"))
    ver = SERIES[profile]["version"]
    if headers and ver is not None:
        inc = dest / "include/linux"
        inc.mkdir(parents=True, exist_ok=True)
        (inc / "pci-liveupdate.h").write_text(
            '#define PCI_LUO_FLB_COMPATIBLE "pci"\n'
            f"#define PCI_LUO_FLB_VERSION {ver}\n")
    return dest
