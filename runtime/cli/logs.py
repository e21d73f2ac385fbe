"""``units logs [--follow]``: the application's log lines, from the dev stack or a deployed one.

The dev server keeps its lines numbered (``GET /_units/api/logs?after=N``). A deployed stack's
Lambdas write to CloudWatch Logs; their log groups are the stack's ``AWS::Logs::LogGroup``
resources (the kit gives every Lambda its own group, whose name CloudFormation generates, so the
groups are found through the stack rather than guessed as ``/aws/lambda/<name>``), read with
``FilterLogEvents``.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from runtime.cli.common import EXIT_OK, EXIT_USAGE, CliError, compact, print_json, when
from runtime.cli.connection import Connection
from runtime.durations import parse_duration
from runtime.targets import Target, dev_request

Connect = Callable[[], Connection]

#: Seconds between two polls with ``--follow``.
POLL_SECONDS = 1.0
#: Keys every Powertools line carries that say nothing about the application.
_POWERTOOLS_NOISE = frozenset(
    {"level", "message", "timestamp", "location", "service", "sampling_rate", "xray_trace_id"}
    | {"cold_start", "function_name", "function_memory_size", "function_arn"}
    | {"function_request_id"}
)
#: The hash CDK appends to a logical id (``FunctionsHostLogs1A2B3C4D`` -> ``FunctionsHostLogs``).
_CDK_HASH = re.compile(r"[0-9A-F]{8}$")


@dataclass
class LogLine:
    """One line, whichever stack it came from."""

    time: float
    unit: str
    level: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "unit": self.unit,
            "level": self.level,
            "message": self.message,
            "fields": self.fields,
        }

    def render(self) -> str:
        extras = " ".join(f"{k}={compact(v, 80)}" for k, v in self.fields.items())
        return f"{when(self.time)}  {self.unit}  {self.level}  {self.message}  {extras}".rstrip()


def add_parser(sub: Any, target_options: argparse.ArgumentParser) -> None:
    logs = sub.add_parser("logs", parents=[target_options], help="show the application's logs")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    logs.add_argument(
        "--since", default="10m", help="how far back to start, e.g. 30s, 10m, 2h (default 10m)"
    )
    logs.set_defaults(handler=run)


def run(opts: argparse.Namespace, connect: Connect) -> int:
    try:
        since = parse_duration(opts.since)
    except ValueError as exc:
        raise CliError(f"--since: {exc}", EXIT_USAGE) from None
    conn = connect()
    start = conn.clock.now() - since
    source = _dev_lines(conn.target) if conn.target.dev_url else _stack_lines(conn, start)
    try:
        while True:
            for line in next(source):
                if line.time < start:
                    continue
                if opts.json:
                    print_json(line.to_dict())
                else:
                    print(line.render(), flush=True)
            if not opts.follow:
                return EXIT_OK
            conn.sleep(POLL_SECONDS)
    except KeyboardInterrupt:  # how --follow ends
        return EXIT_OK


def _dev_lines(target: Target) -> Iterator[list[LogLine]]:
    """Each poll's new lines from the dev server (it pages them: a poll reads every page)."""
    after = 0
    while True:
        lines: list[LogLine] = []
        while True:
            reply = dev_request(str(target.dev_url), f"/logs?after={after}")
            if not isinstance(reply, dict):
                raise CliError(f"{target.name}: unexpected /logs reply {reply!r}")
            page = reply.get("lines") or []
            lines += [_dev_line(raw) for raw in page]
            after = int(reply.get("next", after))
            if not page:
                break
        yield lines


def _dev_line(raw: dict[str, Any]) -> LogLine:
    return LogLine(
        float(raw.get("time") or 0.0),
        str(raw.get("unit") or "-"),
        str(raw.get("level") or "info"),
        str(raw.get("message") or ""),
        dict(raw.get("fields") or {}),
    )


def log_groups(conn: Connection) -> dict[str, str]:
    """The stack's log groups (physical name -> a label from its logical id)."""
    stack = conn.target.stack
    if not stack:
        return {}
    groups = {}
    paginator = conn.client("cloudformation").get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack):
        for resource in page.get("StackResourceSummaries", []):
            if resource["ResourceType"] == "AWS::Logs::LogGroup":
                label = _CDK_HASH.sub("", resource["LogicalResourceId"])
                groups[resource["PhysicalResourceId"]] = label
    return groups


def _stack_lines(conn: Connection, start: float) -> Iterator[list[LogLine]]:
    """Each poll's new lines from the stack's log groups, oldest first."""
    groups = log_groups(conn)
    if not groups:
        raise CliError(f"{conn.target.name} has no log groups")
    logs = conn.client("logs")
    since = {name: int(start * 1000) for name in groups}
    seen: set[str] = set()
    while True:
        lines: list[tuple[int, LogLine]] = []
        for name, label in groups.items():
            for event in _events(logs, name, since[name]):
                if event["eventId"] in seen:
                    continue  # the next poll starts at the last timestamp: skip what it repeats
                seen.add(event["eventId"])
                since[name] = max(since[name], event["timestamp"])
                lines.append((event["timestamp"], _parse(event, label)))
        lines.sort(key=lambda pair: pair[0])
        yield [line for _, line in lines]


def _events(logs: Any, group: str, start_ms: int) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
    while True:
        reply = logs.filter_log_events(**kwargs)
        yield from reply.get("events", [])
        token = reply.get("nextToken")
        if not token or token == kwargs.get("nextToken"):
            return
        kwargs["nextToken"] = token


def _parse(event: dict[str, Any], unit: str) -> LogLine:
    """A CloudWatch event: a Powertools JSON line becomes level, message and the application's
    fields; anything else (the Lambda runtime's START/END/REPORT lines) is kept as text."""
    text = event.get("message", "").rstrip("\n")
    time_ = event["timestamp"] / 1000
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or "message" not in data:
        return LogLine(time_, unit, "-", text)
    extras = {k: v for k, v in data.items() if k not in _POWERTOOLS_NOISE}
    return LogLine(time_, unit, str(data.get("level", "-")).lower(), str(data["message"]), extras)
