"""``channel``: Go-style channels between the tasks of one invocation (a global, as in Wippy)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime


def build(engine: Engine, unit: EntryRuntime) -> Any:
    def new_channel_id(size: int) -> int:
        scheduler = engine.scheduler
        if scheduler is None:
            raise RuntimeError("channel.new outside a running unit")
        return scheduler.new_channel(int(size)).id

    return engine.state.k["channel_module"](engine.state.wrap(new_channel_id))
