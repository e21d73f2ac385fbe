"""The hello example's GET /hello/{name}, written in Python on Powertools: the API baseline.

It does what ``examples/hello/hello.lua`` + ``greet.lua`` do: read the path parameter, title-case
the name, log one structured line, answer ``{"greeting": ...}`` as JSON.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="ComputeUnits")
app = APIGatewayHttpResolver()


def greet(name: str) -> str:
    if not name:
        raise ValueError("greet: expected a name")
    return "Hello, " + name[:1].upper() + name[1:] + "!"


@app.get("/hello/<name>")
def hello(name: str) -> dict[str, str]:
    greeting = greet(name)
    logger.info("greeted", extra={"greeted_name": name})
    return {"greeting": greeting}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
