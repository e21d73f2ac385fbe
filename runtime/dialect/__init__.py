"""Wippy's Lua dialect: typed Lua (Wippy docs, ``en/lua/types.md``) made plain Lua 5.4.

:func:`translate` erases annotations, casts and assertions without moving any line or column,
and turns a chunk's top-level ``type`` / ``interface`` declarations into runtime type values
(``Point(v)`` validates and returns ``v``, ``Point:is(v)`` returns ``v, nil`` or ``nil, msg``).
It never checks types.

Translating is a pass in Python over every token, some ten times what Lua's own ``load`` of the
same text costs, so it is done once per source: translations are cached in the process, and the
Lambda bundle carries every translation of its app precomputed (:func:`write_precompiled` at
bundle time, :func:`load_precompiled` at cold start), so a deployed function never translates.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from runtime.dialect._emit import TYPES_GLOBAL
from runtime.dialect._translate import DialectError, Translation
from runtime.dialect._translate import translate as _uncached_translate

__all__ = [
    "PRECOMPILED_FILE",
    "TYPES_GLOBAL",
    "DialectError",
    "Translation",
    "load_precompiled",
    "translate",
    "write_precompiled",
]

#: The file, in an app folder of a Lambda bundle, that holds its sources' translations.
PRECOMPILED_FILE = ".units-dialect.json"

_PRECOMPILED: dict[str, Translation] = {}


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def translate(source: str, chunkname: str = "?") -> Translation:
    """Plain Lua for ``source`` (see the module docstring); cached.

    Raises:
        DialectError: type syntax that does not parse, naming ``chunkname`` and the line.
    """
    if _PRECOMPILED:
        found = _PRECOMPILED.get(_digest(source))
        if found is not None:
            return found
    return _cached(source, chunkname)


@lru_cache(maxsize=1024)
def _cached(source: str, chunkname: str) -> Translation:
    return _uncached_translate(source, chunkname)


def write_precompiled(app_dir: Path, target: Path) -> int:
    """Translate every ``.lua`` file under ``app_dir`` into ``target`` (JSON, by the digest of
    each source). A file whose type syntax does not parse is left out: it fails where it is
    loaded, with its error, as without the file. Returns how many were written."""
    out: dict[str, dict[str, object]] = {}
    for path in sorted(app_dir.rglob("*.lua")):
        try:
            source = path.read_bytes().decode("utf-8")  # as the manifest loader reads it
            translation = _uncached_translate(source, path.name)
        except (OSError, UnicodeDecodeError, DialectError):
            continue
        out[_digest(source)] = {
            "code": translation.code,
            "types": list(translation.declared_types),
        }
    target.write_text(json.dumps(out, sort_keys=True), encoding="utf-8")
    return len(out)


def load_precompiled(path: Path) -> int:
    """Seed the cache from a file :func:`write_precompiled` made; returns how many entries.
    A missing or unreadable file seeds nothing (every source is then translated once)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    for digest, item in data.items():
        _PRECOMPILED[digest] = Translation(str(item["code"]), tuple(item.get("types", ())))
    return len(data)
