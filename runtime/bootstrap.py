"""Building the engine a Lambda container (or the CLI) runs, from its environment."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from runtime import dialect, manifest
from runtime.aws.clients import LazyClient
from runtime.aws.lambda_invoke import LambdaInvoker
from runtime.clock import Clock, WallClock
from runtime.engine import Engine, LogSink
from runtime.processes.mailboxes import Mailboxes
from runtime.processes.store import ActorStore
from runtime.processes.system import ProcessSystem
from runtime.resources import resources_from_environment
from runtime.workflows.client import Workflows
from runtime.workflows.driver import ActivityQueues, Driver
from runtime.workflows.host import WorkflowHost
from runtime.workflows.log import EventLog
from runtime.workflows.step import DEFAULT_STEP_SECONDS

#: Where the application folder is (the Lambda bundle puts it at ``app/``).
APP_ENV = "UNITS_APP"
#: Set on a remote function's own Lambda: the entry ids this Lambda runs itself.
HOME_FUNCTIONS_ENV = "UNITS_HOME_FUNCTIONS"
#: The DynamoDB table of process snapshots and names.
TABLE_ENV = "UNITS_TABLE"
#: ``{"ns:host": "queue url"}`` of every process host's FIFO queue, and of its delay queue.
QUEUES_ENV = "UNITS_PROCESS_QUEUES"
DELAY_QUEUES_ENV = "UNITS_PROCESS_DELAY_QUEUES"
#: On a worker Lambda: the process host whose queue it consumes.
HOST_ENV = "UNITS_PROCESS_HOST"
#: ``{"ns:host": "state machine arn"}`` of every workflow host's driver.
WORKFLOW_MACHINES_ENV = "UNITS_WORKFLOW_MACHINES"
#: ``{"ns:host": "queue url"}`` of every workflow host's activity queue.
ACTIVITY_QUEUES_ENV = "UNITS_ACTIVITY_QUEUES"
#: On a workflow host's step and activity Lambdas: that host.
WORKFLOW_HOST_ENV = "UNITS_WORKFLOW_HOST"


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
    folder = app_dir()
    dialect.load_precompiled(folder / dialect.PRECOMPILED_FILE)  # the bundle's translations
    registry = manifest.load_app(folder)
    manifest.announce(registry)  # once per cold start, into the Lambda's log
    home = frozenset(filter(None, os.environ.get(HOME_FUNCTIONS_ENV, "").split(",")))
    clock = WallClock()
    engine = Engine(
        registry,
        clock=clock,
        remote=LambdaInvoker.from_environment(),
        home_functions=home,
        log_sink=log_sink,
        processes=process_system_from_environment(registry, clock),
        resources=resources_from_environment(),
    )
    engine.workflows = workflows_from_environment(registry, clock)
    return engine


def workflows_from_environment(registry: manifest.Registry, clock: Clock) -> Workflows | None:
    """The workflow runs client the stack configured, or None without workflow hosts."""
    table = os.environ.get(TABLE_ENV)
    machines = json.loads(os.environ.get(WORKFLOW_MACHINES_ENV) or "{}")
    if not table or not machines:
        return None
    log = EventLog(LazyClient("dynamodb"), table)
    return Workflows(registry, log, Driver(LazyClient("stepfunctions"), machines), clock)


def workflow_host_from_environment(engine: Engine) -> WorkflowHost:
    """A workflow host Lambda's operations (step, activity) over ``engine``."""
    if engine.workflows is None:
        raise RuntimeError(f"a workflow Lambda needs {TABLE_ENV} and {WORKFLOW_MACHINES_ENV}")
    queues = json.loads(os.environ.get(ACTIVITY_QUEUES_ENV) or "{}")
    # The host's step_timeout is the step Lambda's: an activity that could not end within it
    # is queued rather than run inline.
    host = engine.registry.find(os.environ.get(WORKFLOW_HOST_ENV, ""))
    step_seconds = getattr(host, "step_timeout", None) or DEFAULT_STEP_SECONDS
    return WorkflowHost(
        engine,
        engine.workflows,
        ActivityQueues(LazyClient("sqs"), queues),
        step_seconds=step_seconds,
    )


def process_system_from_environment(
    registry: manifest.Registry, clock: Clock
) -> ProcessSystem | None:
    """The process system the stack configured, or None when the app has no process hosts."""
    table = os.environ.get(TABLE_ENV)
    if not table:
        return None
    queues = json.loads(os.environ.get(QUEUES_ENV) or "{}")
    delays = json.loads(os.environ.get(DELAY_QUEUES_ENV) or "{}")
    return ProcessSystem(
        registry,
        ActorStore(LazyClient("dynamodb"), table),
        Mailboxes(LazyClient("sqs"), queues, delays, clock),
        clock,
    )


#: Keys Powertools writes itself; an application field of the same name becomes ``app_<name>``.
_POWERTOOLS_KEYS = frozenset(
    {"level", "location", "message", "timestamp", "service", "sampling_rate", "xray_trace_id"}
    | {"exception", "exception_name", "stack_trace"}
)
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def powertools_sink(logger: Any) -> LogSink:
    """A log sink writing through a Powertools ``Logger``: fields become top-level JSON keys.

    Fields are added to the formatter for one line instead of passed as ``extra=``, because
    ``extra`` refuses the names ``logging.LogRecord`` owns (``name``, ``module``, ``args``...),
    which applications use freely. Names the line already carries (``service``, the Lambda
    context keys...) are never overwritten: the application's field is renamed ``app_<name>``.
    """
    formatter = logger.registered_formatter  # a property that searches handlers: look up once
    methods = {
        logging.DEBUG: logger.debug,
        logging.INFO: logger.info,
        logging.WARNING: logger.warning,
        logging.ERROR: logger.error,
    }

    def sink(level: str, message: str, fields: dict[str, Any]) -> None:
        number = _LEVELS.get(level, logging.ERROR)
        if number < logger.log_level:
            return
        current = formatter.get_current_keys()
        keys = {
            (f"app_{k}" if k in _POWERTOOLS_KEYS or k in current else k): v
            for k, v in fields.items()
        }
        formatter.append_keys(**keys)
        try:
            methods[number](message)
        finally:
            formatter.remove_keys(keys)

    def enabled(level: str) -> bool:
        return _LEVELS.get(level, logging.ERROR) >= logger.log_level

    sink.enabled = enabled  # type: ignore[attr-defined]
    return sink
