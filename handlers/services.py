"""The deploy-time custom resource (CDK Provider onEvent): spawn the auto-started services.

Create and Update spawn every auto-started ``process.service``; Delete does nothing (the
stack's queues and table go with the stack). Running it again is harmless: a service's first
start has a deterministic pid and deduplication id, and a spawn to an existing pid is ignored.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from runtime.bootstrap import engine_from_environment, powertools_sink
from runtime.processes.worker import start_services

logger = Logger()
#: The resource's id; it never changes, so an Update never makes CloudFormation delete one.
PHYSICAL_ID = "units-services"


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    physical_id = event.get("PhysicalResourceId") or PHYSICAL_ID
    if event["RequestType"] not in ("Create", "Update"):
        return {"PhysicalResourceId": physical_id}
    # Built per event, not at import: a deployment calls this once or twice in all.
    engine = engine_from_environment(log_sink=powertools_sink(logger))
    try:
        if engine.processes is None:
            raise RuntimeError("starting services needs UNITS_TABLE and UNITS_PROCESS_QUEUES")
        pids = start_services(engine.processes)
    finally:
        engine.close()
    logger.info("services started", extra={"pids": pids})
    return {"PhysicalResourceId": physical_id, "Data": {"Pids": ",".join(pids)}}
