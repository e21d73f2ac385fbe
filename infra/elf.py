"""Strip an ELF shared object of what only debuggers read, in pure Python.

The Lambda bundle's extension modules come from wheels, some built with their symbol table and
DWARF debug information (PyYAML's, msgpack's and wrapt's C extensions, cryptography's Rust
library): megabytes the Lambda never reads, since the dynamic loader uses the program headers,
``.dynsym`` and ``.dynstr`` only. The host's ``strip`` cannot be used: GNU binutils' reads the
build machine's architecture only (an aarch64 bundle is built on x86_64), and ``llvm-strip`` is
not on every machine. This does what ``strip --strip-all`` does to a shared object:

- it removes the non-allocated sections ``.symtab``, ``.strtab``, ``.debug_*``, ``.zdebug_*``,
  ``.comment``, ``.gnu_debuglink`` and ``.gnu_debugdata`` (their bytes are in no segment);
- it keeps every allocated section at its index and offset, so the loaded image, the dynamic
  symbols (whose ``st_shndx`` name section indices) and every address are unchanged, and
  writes the section header table anew after the last segment and the kept non-allocated
  sections (``.shstrtab``);
- it leaves a file alone (returns False) when it is not a little-endian 64-bit ELF file, when a
  removed section comes before an allocated one in the table, when a kept section links to a
  removed one, or when it uses extended section numbering: nothing it does not understand is
  touched.
"""

from __future__ import annotations

import struct
from pathlib import Path

_SHF_ALLOC = 0x2
_SHF_INFO_LINK = 0x40
_SHT_NOBITS = 8
#: Section header: name, type, flags, addr, offset, size, link, info, addralign, entsize.
_SECTION = struct.Struct("<IIQQQQIIQQ")
_REMOVED_PREFIXES = (".debug_", ".zdebug_")
_REMOVED_NAMES = frozenset({".symtab", ".strtab", ".comment", ".gnu_debuglink", ".gnu_debugdata"})


def _removable(name: str) -> bool:
    return name in _REMOVED_NAMES or name.startswith(_REMOVED_PREFIXES)


def section_names(path: Path) -> list[str]:
    """The names of the sections of a little-endian 64-bit ELF file ([] for anything else)."""
    data = path.read_bytes()
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return []
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if not shoff or not shnum or shstrndx >= shnum:
        return []
    headers = [_SECTION.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx][4]
    return [data[strtab + h[0] : data.index(b"\0", strtab + h[0])].decode() for h in headers]


def strip(path: Path) -> bool:
    """Strip ``path`` in place (see the module docstring); True when it was rewritten."""
    data = path.read_bytes()
    # ELF magic, ELFCLASS64, little-endian.
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", data, 0x36)
    if shoff == 0 or shnum == 0 or shstrndx == 0 or shstrndx >= 0xFF00:
        return False  # no section table, or extended numbering
    if shentsize != _SECTION.size or shoff + shnum * shentsize > len(data):
        return False
    sections = [list(_SECTION.unpack_from(data, shoff + i * shentsize)) for i in range(shnum)]
    strtab_offset, strtab_size = sections[shstrndx][4], sections[shstrndx][5]
    names = []
    for section in sections:
        start = strtab_offset + section[0]
        end = data.find(b"\0", start, strtab_offset + strtab_size)
        names.append(data[start:end].decode("ascii", "replace") if end >= 0 else "")
    removed = {
        i
        for i, (section, name) in enumerate(zip(sections, names, strict=True))
        if i and not section[2] & _SHF_ALLOC and _removable(name)
    }
    if not removed:
        return False
    allocated = [i for i, s in enumerate(sections) if s[2] & _SHF_ALLOC]
    if allocated and min(removed) < max(allocated):
        return False  # the allocated sections' indices would move
    kept = [i for i in range(shnum) if i not in removed]
    index = {old: new for new, old in enumerate(kept)}
    # The loaded image: every segment's bytes, the ELF and program headers included.
    end = phoff + phnum * phentsize
    for i in range(phnum):
        header = phoff + i * phentsize
        (offset,) = struct.unpack_from("<Q", data, header + 8)  # p_offset
        (filesz,) = struct.unpack_from("<Q", data, header + 32)  # p_filesz
        end = max(end, offset + filesz)
    out = bytearray(data[:end])
    table = []
    for old in kept:
        section = list(sections[old])
        link, info, flags = section[6], section[7], section[2]
        if link and link not in index:
            return False
        if flags & _SHF_INFO_LINK and info and info not in index:
            return False
        section[6] = index.get(link, 0) if link else 0
        if flags & _SHF_INFO_LINK and info:
            section[7] = index[info]
        offset, size = section[4], section[5]
        if old and not flags & _SHF_ALLOC and section[1] != _SHT_NOBITS and offset >= end:
            # A kept non-allocated section past the image (.shstrtab): moved up.
            align = max(1, section[8])
            out += b"\0" * (-len(out) % align)
            section[4] = len(out)
            out += data[offset : offset + size]
        elif old and section[1] != _SHT_NOBITS and offset + size > len(out):
            return False  # a section's bytes that are neither in the image nor moved
        table.append(section)
    out += b"\0" * (-len(out) % 8)
    new_shoff = len(out)
    for section in table:
        out += _SECTION.pack(*section)
    struct.pack_into("<Q", out, 0x28, new_shoff)
    struct.pack_into("<HH", out, 0x3C, len(table), index[shstrndx])
    path.write_bytes(bytes(out))
    return True
