"""Running a chunk of (typed) Lua in a bare sandboxed environment, for the dialect's tests."""

from __future__ import annotations

from typing import Any

from runtime.sandbox import LuaState, lua_type

_STATE: LuaState | None = None


def state() -> LuaState:
    """One Lua state for the whole test session (states are never freed before exit)."""
    global _STATE
    if _STATE is None:
        _STATE = LuaState()
    return _STATE


def _plain(value: Any) -> Any:
    """A Lua value as plain Python (tables as dicts/lists), for comparing results."""
    if lua_type(value) == "table":
        items = {k: _plain(v) for k, v in value.items()}
        if (
            items
            and all(isinstance(k, int) for k in items)
            and sorted(items) == list(range(1, len(items) + 1))
        ):
            return [items[i] for i in range(1, len(items) + 1)]
        return {(k.decode() if isinstance(k, bytes) else k): v for k, v in items.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if lua_type(value) in ("function", "thread", "userdata"):
        return f"<{lua_type(value)}>"
    return value


def run(source: str, chunkname: str = "test.lua") -> Any:
    """Compile ``source`` (typed or plain) into a fresh entry environment, run it, and return
    what the chunk returned as plain Python."""
    lua = state()
    host = lua.table(
        clock_now=lua.wrap(lambda: 0.0),
        require=lua.wrap(lambda name: None),
        print=lua.wrap(lambda *a: None),
    )
    env = lua.k["new_env"](host)
    fn = lua.compile(source, chunkname, env)
    return _plain(fn())
