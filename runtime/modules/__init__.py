"""The Lua modules application code can ``require``.

Each module is a small Python file that builds one Lua table for one running entry. The names
here are the ones an entry may list under ``modules:`` in its manifest.
"""

from __future__ import annotations

#: Modules loaded with ``require`` and listed in an entry's ``modules:``. ``process`` and
#: ``channel`` are globals (as in the Wippy runtime) and need no listing.
MODULE_NAMES: frozenset[str] = frozenset(
    {
        "funcs",
        "time",
        "json",
        "uuid",
        "logger",
        "env",
        "http",
        "errors",
        "ctx",
        "workflow",
        "base64",
    }
)
GLOBAL_MODULES: frozenset[str] = frozenset({"process", "channel"})
