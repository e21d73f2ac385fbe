"""Which Python function builds which Lua module for an entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.modules import (
    base64_module,
    channel_module,
    cloudstorage_module,
    crypto_module,
    ctx_module,
    env_module,
    errors_module,
    events_module,
    fs_module,
    funcs_module,
    hash_module,
    http_client_module,
    http_module,
    json_module,
    logger_module,
    payload_module,
    process_module,
    queue_module,
    sql_module,
    store_module,
    time_module,
    uuid_module,
    workflow_module,
    yaml_module,
)
from runtime.modules.time_module import parse_duration_ns

__all__ = ["BUILDERS", "parse_duration_ns"]

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

Builder = Callable[["Engine", "EntryRuntime"], Any]

BUILDERS: dict[str, Builder] = {
    "funcs": funcs_module.build,
    "process": process_module.build,
    "time": time_module.build,
    "json": json_module.build,
    "uuid": uuid_module.build,
    "logger": logger_module.build,
    "env": env_module.build,
    "http": http_module.build,
    "http_client": http_client_module.build,
    "errors": errors_module.build,
    "ctx": ctx_module.build,
    "base64": base64_module.build,
    "channel": channel_module.build,
    "workflow": workflow_module.build,
    "payload": payload_module.build,
    "hash": hash_module.build,
    "crypto": crypto_module.build,
    "yaml": yaml_module.build,
    "store": store_module.build,
    "cloudstorage": cloudstorage_module.build,
    "fs": fs_module.build,
    "events": events_module.build,
    "sql": sql_module.build,
    "queue": queue_module.build,
}
