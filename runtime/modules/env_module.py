"""``env``: configuration values. ``env.get(name)`` reads the entry's ``env:`` block, which the
deployment can override with an environment variable ``UNITS_ENV_<NAME>``. Nothing else of the
process environment is readable: the Lambda's own variables hold credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

ENV_PREFIX = "UNITS_ENV_"


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state = engine.state
    declared: dict[str, str] = dict(getattr(unit.entry, "env", None) or {})

    def get(name: Any, default: Any = None) -> Any:
        if not isinstance(name, bytes):
            return state.raise_in_lua("env.get: expected a variable name")
        key = name.decode("utf-8", "replace")
        override = engine.environ.get(ENV_PREFIX + key)
        if override is not None:
            return override.encode()
        if key in declared:
            return str(declared[key]).encode()
        return default

    return state.table(get=state.wrap(get))
