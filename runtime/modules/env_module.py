"""``env``: Wippy's environment module (``en/lua/system/env.md``): ``get(key) -> string, err``,
``get_all() -> table, err``, ``set(key, value) -> true | nil, err``.

What an entry may read is its ``env:`` block, and any ``UNITS_ENV_<NAME>`` variable of the
deployment (which also overrides the block's ``NAME``). Nothing else of the process
environment is readable: the Lambda's own variables hold credentials. (In Wippy the variables
an app may read are the ones its ``env.variable`` entries declare; here the block is that
declaration.)

``set`` is refused with ``PERMISSION_DENIED``, the kind Wippy gives when its policy refuses a
write. A Wippy variable set at run time is visible to every later reader on that node; a
Lambda's environment is fixed at deploy, and nothing a call sets could reach the other
instances of the function or its next cold start, so a value that seemed to stick would hold
only by accident of which instance ran. The error says where the value belongs instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.errors import INVALID, NOT_FOUND, PERMISSION_DENIED

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

ENV_PREFIX = "UNITS_ENV_"


def readable(declared: dict[str, str], environ: Any) -> dict[str, str]:
    """The variables an entry reads: its ``env:`` block, then the deployment's
    ``UNITS_ENV_<NAME>`` variables over it."""
    values = {name: str(value) for name, value in declared.items()}
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX) and len(name) > len(ENV_PREFIX):
            values[name[len(ENV_PREFIX) :]] = value
    return values


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state = engine.state
    declared: dict[str, str] = dict(getattr(unit.entry, "env", None) or {})

    def failure(kind: str, message: str) -> tuple[None, Any]:
        return None, state.new_error(kind, message, retryable=False)

    def key_text(fn: str, key: Any) -> str | tuple[Any, bytes]:
        # As Wippy's checks do, a number stands for its text; anything else is a caller's bug.
        if isinstance(key, int | float) and not isinstance(key, bool):
            return str(key)
        if not isinstance(key, bytes):
            return state.raise_in_lua(f"env.{fn}: the key must be a string")
        return key.decode("utf-8", "replace")

    def get(key: Any = None, *_: Any) -> Any:
        name = key_text("get", key)
        if not isinstance(name, str):
            return name
        if not name:
            return failure(INVALID, "empty key")
        # Read at the call: an override set on the deployment is seen without a reload.
        override = engine.environ.get(ENV_PREFIX + name)
        if override is not None:
            return override.encode(), None
        if name in declared:
            return str(declared[name]).encode(), None
        return failure(
            NOT_FOUND,
            f"environment variable not found: {name} (declare it in the entry's env: block, "
            f"or set {ENV_PREFIX}{name} on the deployment)",
        )

    def get_all(*_: Any) -> Any:
        values = readable(declared, engine.environ)
        return state.table(**{name: value.encode() for name, value in values.items()}), None

    def set_(key: Any = None, value: Any = None, *_: Any) -> Any:
        name = key_text("set", key)
        if not isinstance(name, str):
            return name
        if not name:
            return failure(INVALID, "empty key")
        if not isinstance(value, bytes | int | float) or isinstance(value, bool):
            return state.raise_in_lua("env.set: the value must be a string")
        return failure(
            PERMISSION_DENIED,
            f"env.set: not allowed to set environment variable: {name} (an entry's environment "
            f"is fixed at deploy: give it in the entry's env: block, or as {ENV_PREFIX}{name} "
            "on the deployment)",
        )

    return state.table(get=state.wrap(get), get_all=state.wrap(get_all), set=state.wrap(set_))
