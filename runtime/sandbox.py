"""One sandboxed Lua 5.4 state (lupa) with the kit's prelude loaded.

Application code never reaches Python: lupa's ``python`` table is removed, attribute access on
any Python object that crosses over is refused, and every Python function Lua can call is wrapped
in a Lua closure (``kit.wrap``), so user code only ever holds Lua values. What user code sees of
the standard library is built per entry by ``kit.new_env`` in ``lua/prelude.lua``.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
from importlib import resources
from typing import Any

import lupa
import re2
from lupa import lua54

from runtime.dialect import DialectError, translate
from runtime.errors import INVALID, UnitError

#: Default instruction budget for one top-level call (nested in-process calls share it).
DEFAULT_INSTRUCTION_LIMIT = 50_000_000
#: Default CPU-time ceiling for one call, in seconds: the instruction budget's backstop for C
#: work it cannot count (one VM instruction copying a multi-megabyte string). A call that spends
#: its whole instruction budget on plain Lua uses a few seconds of it.
DEFAULT_CPU_SECONDS = 10.0
#: What a call that ran out of instructions or CPU time fails with; both are a TIMEOUT.
OUT_OF_TIME_MESSAGES = ("instruction budget exceeded", "CPU time limit exceeded")
#: Default memory ceiling for one call, on top of what the state already uses.
DEFAULT_MEMORY_LIMIT = 64 * 1024 * 1024
#: Hard ceiling of the whole Lua state; calls get a slice of it.
STATE_MEMORY_LIMIT = 1024 * 1024 * 1024


def ran_out_of_time(message: str) -> bool:
    """Whether an error message says the call's instruction budget or CPU time ran out."""
    return any(marker in message for marker in OUT_OF_TIME_MESSAGES)


def _refuse_attribute(obj: Any, name: Any, is_setting: bool) -> Any:
    raise AttributeError("access to Python objects is not allowed from Lua")


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> Any:
    return re2.compile(pattern)


def _regex_search(pattern: Any, text: Any) -> tuple[bool | None, bytes | None]:
    """``@pattern`` validators: Go's RE2 syntax and its linear-time matching, as in Wippy."""
    if not isinstance(pattern, bytes) or not isinstance(text, bytes):
        return None, b"the pattern and the value must be strings"
    try:
        compiled = _regex(pattern.decode("utf-8", "replace"))
    except re2.error as exc:
        return None, f"invalid pattern: {exc}".encode()
    return compiled.search(text.decode("utf-8", "replace")) is not None, None


def _load_prelude_source(name: str = "prelude.lua") -> str:
    return resources.files("runtime").joinpath(f"lua/{name}").read_text(encoding="utf-8")


_PRELUDE = _load_prelude_source()
#: Lua's pattern matcher in Lua, for patterns the C one could backtrack on for hours in one
#: VM instruction, out of the instruction budget's reach (see lua/patterns.lua).
_PATTERNS = _load_prelude_source("patterns.lua")
#: Runtime type values of typed Lua (see lua/types.lua and runtime/dialect).
_TYPES = _load_prelude_source("types.lua")

# Why no LuaRuntime is ever freed before the process exits: lupa keeps the Python objects Lua
# refers to in a Python dict on the runtime, so a runtime whose callbacks refer back to their
# engine sits in a reference cycle, which Python's cyclic GC collects in no particular order.
# When it frees the runtime before objects that still hold Lua references, their release writes
# into the freed lua_State: heap corruption, seen with lupa 2.8 as segfaults and garbled objects
# far from the cause. A closed state (LuaState.close) first lets Lua drop everything it holds,
# so what stays behind is a small empty runtime; engines live for a whole Lambda container, so
# only tests and reloads ever close one.
_RUNTIMES: list[Any] = []


@atexit.register
def _keep_runtimes_through_shutdown() -> None:
    # Module teardown at exit frees the list above in no particular order as well.
    for runtime in _RUNTIMES:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(runtime))


class LuaState:
    """A Lua state with the sandbox installed and the prelude's ``kit`` table at hand."""

    def __init__(self) -> None:
        self.lua = lua54.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            encoding=None,
            max_memory=STATE_MEMORY_LIMIT,
            attribute_filter=_refuse_attribute,
        )
        globals_ = self.lua.globals()
        # lupa registers `python` even with register_eval/register_builtins off.
        globals_[b"python"] = None
        patterns = self.lua.execute(_PATTERNS, name="=[kit]", mode="t")
        self.kit = self.lua.execute(_PRELUDE, patterns, name="=[kit]", mode="t")
        self.lua.execute(_TYPES, self.kit, name="=[kit]types", mode="t")
        for name in (b"debug", b"io", b"package", b"dofile", b"loadfile", b"require"):
            globals_[name] = None
        #: The prelude's functions by name, looked up once (see ``kit.get`` for why).
        self.k: dict[str, Any] = {key.decode(): value for key, value in self.kit.items()}
        self.raise_marker = self.k["RAISE"]
        self._compile = self.k["compile"]
        self._wrap = self.k["wrap"]
        self._new_error = self.k["new_error"]
        self.get = self.k["get"]
        self.set = self.k["set"]
        self.set(self.kit, b"regex_search", self._wrap(_regex_search))
        self._table_from = self.lua.table_from
        _RUNTIMES.append(self.lua)
        self.closed = False

    # -- values --------------------------------------------------------------------------
    def table(self, *items: Any, **fields: Any) -> Any:
        """A Lua table from positional items and/or string-keyed fields (keys become bytes)."""
        t = self._table_from(items) if items else self._table_from(())
        for key, value in fields.items():
            self.set(t, key.encode(), value)
        return t

    def wrap(self, fn: Any) -> Any:
        """A Lua closure calling the Python callable ``fn`` (see ``kit.wrap``)."""
        return self._wrap(fn)

    def wrap_fallible(self, fn: Any) -> Any:
        """:meth:`wrap`, with a :class:`UnitError` raised by ``fn`` returned to Lua as
        ``nil, err`` (the modules' ``value, err`` convention) instead of raised."""

        def call(*args: Any) -> Any:
            try:
                return fn(*args)
            except UnitError as exc:
                return None, self.error_value(exc)

        return self._wrap(call)

    def new_error(
        self,
        kind: str,
        message: str,
        *,
        retryable: bool | None = None,
        details: Any = None,
    ) -> Any:
        """A Lua error value (``err:kind()``, ``err:message()``, ``err:retryable()``,
        ``err:details()``); ``details`` is a Lua table or None."""
        return self._new_error(kind.encode(), message.encode(), details, retryable)

    def error_value(self, exc: UnitError) -> Any:
        """``exc`` as a Lua error value, its retryable flag and details kept."""
        details = None
        # The traceback the kit keeps for logs and the CLI is not part of the error's details.
        user_details = {k: v for k, v in exc.details.items() if k != "traceback"}
        if user_details:
            details = self.table_from_python(user_details)
        return self.new_error(exc.kind, exc.message, retryable=exc.retryable, details=details)

    def table_from_python(self, value: dict[str, Any]) -> Any:
        """A plain-data dict as a Lua table (strings, numbers, booleans, nested dicts/lists)."""
        table = self._table_from(())
        for key, item in value.items():
            if isinstance(item, dict):
                item = self.table_from_python(item)
            elif isinstance(item, list | tuple):
                item = self._table_from(
                    [
                        self.table_from_python(v) if isinstance(v, dict) else _lua_scalar(v)
                        for v in item
                    ]
                )
            else:
                item = _lua_scalar(item)
            self.set(table, str(key).encode(), item)
        return table

    def raise_in_lua(self, message: str) -> tuple[Any, bytes]:
        """Return value for a wrapped Python function that makes its Lua caller raise."""
        return self.raise_marker, message.encode()

    # -- code ----------------------------------------------------------------------------
    def compile(self, source: str, chunkname: str, env: Any) -> Any:
        """Compile text ``source`` (Wippy's typed Lua or plain Lua) as a function bound to
        ``env``.

        Raises:
            UnitError: INVALID with the syntax error (it carries ``chunkname:line``).
        """
        try:
            code = translate(source, chunkname).code
        except DialectError as exc:
            raise UnitError(INVALID, f"syntax error: {exc.message}") from None
        fn, err = self._compile(code.encode(), chunkname.encode(), env)
        if fn is None:
            raise UnitError(INVALID, f"syntax error: {_text(err)}")
        return fn

    # -- memory --------------------------------------------------------------------------
    def memory_used(self) -> int:
        """Bytes the Lua state currently holds."""
        return int(self.lua.get_memory_used() or 0)

    def limit_memory(self, extra_bytes: int) -> None:
        """Let the next call allocate at most ``extra_bytes`` above what is in use now.

        Garbage left by earlier calls counts as in use, which only errs towards more room: Lua
        collects it in an emergency cycle before it reports ``not enough memory``.
        """
        used = self.lua.get_memory_used(total=True) or 0
        self.lua.set_max_memory(used + extra_bytes, total=True)

    def unlimit_memory(self) -> None:
        """Restore the whole-state ceiling: between calls the kit's own bookkeeping may allocate."""
        self.lua.set_max_memory(STATE_MEMORY_LIMIT, total=True)

    def close(self) -> None:
        """Let Lua drop everything it holds (see ``_RUNTIMES``); the state is unusable after."""
        if self.closed:
            return
        self.closed = True
        self.lua.set_max_memory(STATE_MEMORY_LIMIT, total=True)
        self.lua.execute(
            "local G, pairs, collect = _G, pairs, collectgarbage "
            "for k in pairs(G) do G[k] = nil end collect('collect') collect('collect')"
        )


def _lua_scalar(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode()
    if value is None or isinstance(value, bool | int | float | bytes):
        return value
    return str(value).encode()


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def lua_text(value: Any) -> str:
    """A Lua string (bytes) or any other value from Lua, as Python text for messages."""
    return _text(value)


def lua_type(value: Any) -> str | None:
    """``'table'``, ``'function'``, ``'thread'``, ``'userdata'`` or None for plain values."""
    return lua54.lua_type(value)


LuaError = lupa.LuaError
LuaMemoryError = lua54.LuaMemoryError
