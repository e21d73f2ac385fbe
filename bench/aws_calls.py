"""AWS API calls per unit of work (they are the bill), counted on the boto3 clients in moto."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bench.timing import Figure
from runtime.testing import LocalCloud

APP = Path(__file__).resolve().parent / "app"
CALLS = 50


def run() -> list[Figure]:
    with LocalCloud(APP) as cloud:
        counted: Counter[str] = Counter()

        def count(event_name: str, **_: object) -> None:
            counted[event_name.rsplit(".", 1)[-1]] += 1

        cloud.lambda_client.meta.events.register("before-call.*.*", count)
        cloud.call("bench:call_loop", CALLS, "bench:add")
        in_process = sum(counted.values())
        counted.clear()
        cloud.call("bench:call_loop", CALLS, "bench:remote_add")
        remote = counted["Invoke"]
    return [
        Figure("AWS calls per in-process funcs.call", in_process / CALLS, "calls"),
        Figure(
            "AWS calls per funcs.call of a deploy.remote function",
            remote / CALLS,
            "calls",
            "one Lambda Invoke",
        ),
    ]
