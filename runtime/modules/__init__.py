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
        "http_client",
        "errors",
        "ctx",
        "workflow",
        "base64",
        "hash",
        "crypto",
        "yaml",
        "store",
        "cloudstorage",
        "fs",
        "events",
        "sql",
        "queue",
    }
)
#: Globals, as in Wippy: in every entry's environment, ``require`` of one hands out the global.
GLOBAL_MODULES: frozenset[str] = frozenset({"process", "channel", "errors", "payload"})
#: Every module name the Wippy runtime knows (its Lua modules and globals). A name here that is
#: in neither set above is one this kit does not provide yet: an entry may list it (the app
#: loads, with a warning) and ``require`` of it fails at the call with an error that says so.
WIPPY_MODULES: frozenset[str] = frozenset(
    {
        *("archive", "base64", "cdc", "channel", "cloudstorage", "compress", "contract"),
        *("crypto", "ctx", "env", "errors", "eval_runner", "events", "excel", "exec", "expr"),
        *("fs", "funcs", "hash", "html", "http", "http_client", "hub", "io", "json"),
        *("logger", "metrics", "os", "payload", "pg", "process", "queue", "registry"),
        *("security", "sql", "store", "stream", "system", "templates", "text", "time"),
        *("treesitter", "tty", "uuid", "websocket", "workflow", "yaml"),
    }
)


#: Wippy modules whose functions the kit has as a sandbox global instead: ``os`` (time,
#: clock, date) is the global, and ``require("os")`` stays refused.
SANDBOX_GLOBALS: frozenset[str] = frozenset({"os"})


def unavailable_modules() -> frozenset[str]:
    """The Wippy modules this kit does not provide (yet), computed from the sets above so that
    a module added to :data:`MODULE_NAMES` stops being one."""
    return WIPPY_MODULES - MODULE_NAMES - GLOBAL_MODULES - SANDBOX_GLOBALS
