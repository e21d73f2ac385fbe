"""Building the engine a Lambda container (or the CLI) runs, from its environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from runtime import manifest
from runtime.aws.lambda_invoke import LambdaInvoker
from runtime.engine import Engine, LogSink

#: Where the application folder is (the Lambda bundle puts it at ``app/``).
APP_ENV = "UNITS_APP"
#: Set on a remote function's own Lambda: the entry ids this Lambda runs itself.
HOME_FUNCTIONS_ENV = "UNITS_HOME_FUNCTIONS"


def app_dir() -> Path:
    """The application folder named by ``UNITS_APP``, else ``app`` beside the handlers."""
    configured = os.environ.get(APP_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "app"


def engine_from_environment(log_sink: LogSink | None = None) -> Engine:
    """Load the app and build the engine, with remote calls going through Lambda invoke.

    ``log_sink`` receives the application's ``logger`` lines; handlers pass their Powertools
    Logger so Lua logs land in the same structured stream as the handler's own.
    """
    registry = manifest.load_app(app_dir())
    home = frozenset(filter(None, os.environ.get(HOME_FUNCTIONS_ENV, "").split(",")))
    return Engine(
        registry,
        remote=LambdaInvoker.from_environment(),
        home_functions=home,
        log_sink=log_sink,
    )


#: Keys Powertools writes itself; an application field of the same name is renamed ``app_<key>``.
_POWERTOOLS_KEYS = frozenset(
    {"level", "location", "message", "timestamp", "service", "sampling_rate", "xray_trace_id"}
    | {"exception", "exception_name", "stack_trace", "cold_start", "correlation_id"}
)


def powertools_sink(logger: Any) -> LogSink:
    """A log sink writing through a Powertools ``Logger``: fields become top-level JSON keys.

    Fields go in as context keys rather than ``extra=``, because ``extra`` refuses names that
    ``logging.LogRecord`` owns (``name``, ``module``, ``args``...), which applications use freely.
    """
    methods = {
        "debug": logger.debug,
        "info": logger.info,
        "warning": logger.warning,
        "error": logger.error,
    }

    def sink(level: str, message: str, fields: dict[str, Any]) -> None:
        taken = _POWERTOOLS_KEYS | logger.get_current_keys().keys()
        keys = {(f"app_{k}" if k in taken else k): v for k, v in fields.items()}
        with logger.append_context_keys(**keys):
            methods.get(level, logger.info)(message)

    return sink
