"""``units workflow start|describe|history|signal|cancel|terminate|resume|list``: runs."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from runtime import codec
from runtime.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    compact,
    error_text,
    fail,
    fields,
    parse_json,
    print_json,
    progress,
    table,
    when,
)
from runtime.cli.connection import Connection
from runtime.workflows.client import CONFLICT_POLICIES, run_address

Connect = Callable[[], Connection]

#: Seconds between two looks at a run that ``--wait`` follows.
POLL_SECONDS = 1.0
#: Fields of an event that its line in a history leaves out (shown in their own columns, or
#: bookkeeping: the inbox item an outcome came from).
_PLUMBING = frozenset({"seq", "type", "time", "inbox"})
_STATUSES = ("running", "completed", "failed", "terminated")


def add_parsers(sub: Any, target_options: argparse.ArgumentParser) -> None:
    workflow = sub.add_parser("workflow", help="start, watch and steer workflow runs")
    commands = workflow.add_subparsers(dest="workflow_command", metavar="COMMAND")
    workflow.set_defaults(handler=lambda opts, connect: _usage(workflow, "give a workflow command"))

    def command(name: str, help_: str, run: Callable[..., int]) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, parents=[target_options], help=help_)
        parser.set_defaults(handler=run)
        return parser

    start = command("start", "start a run and print its id", start_command)
    start.add_argument("id", help="workflow entry id, e.g. app:order")
    start.add_argument("input", nargs="?", help="the input, a JSON value (default null)")
    start.add_argument("--host", help="workflow host (default: the application's only one)")
    start.add_argument("--name", help="a name making the start idempotent")
    start.add_argument(
        "--conflict",
        choices=CONFLICT_POLICIES,
        default="fail",
        help="when a run holds --name already (default: fail)",
    )
    start.add_argument("--wait", action="store_true", help="follow the run until it ends")
    start.add_argument("--timeout", type=float, help="with --wait: give up after SECONDS")
    start.add_argument("--app", help="application folder to check the workflow id against")

    describe = command("describe", "show a run: status, result, what it waits for", describe_cmd)
    describe.add_argument("run", help="a run id or address <host>/<run id>")
    history = command("history", "show a run's events", history_command)
    history.add_argument("run", help="a run id or address")

    signal = command("signal", "send a run a message (process.inbox / listen)", signal_command)
    signal.add_argument("run", help="a run id or address")
    signal.add_argument("topic", help="the signal's topic")
    signal.add_argument("payload", nargs="?", help="the payload, a JSON value (default null)")

    cancel = command("cancel", "ask a run to stop (a CANCEL event its code handles)", cancel_cmd)
    cancel.add_argument("run", help="a run id or address")
    cancel.add_argument("--reason", help="why (the CANCEL event carries it)")
    terminate = command("terminate", "end a run now, without running its code", terminate_cmd)
    terminate.add_argument("run", help="a run id or address")
    terminate.add_argument("--reason", default="terminated from the command line")

    resume = command("resume", "start a parked run's driver again (after a fix)", resume_cmd)
    resume.add_argument("run", help="a run id or address")

    listing = command("list", "list runs, newest first", list_command)
    listing.add_argument("--status", choices=_STATUSES, help="only runs in this status")
    listing.add_argument("--workflow", help="only runs of this workflow id")


def _usage(parser: argparse.ArgumentParser, what: str) -> int:
    parser.print_help(sys.stderr)
    print(f"\n{parser.prog}: {what} (one of the commands above)", file=sys.stderr)
    return EXIT_USAGE


# -- starting and following -----------------------------------------------------------------------
def start_command(opts: argparse.Namespace, connect: Connect) -> int:
    input_ = None if opts.input is None else parse_json(opts.input, "the input")
    input_ = codec.from_json_value(input_)  # the codec's JSON form, as on the wire
    if opts.timeout is not None and not opts.wait:
        raise CliError("--timeout goes with --wait", EXIT_USAGE)
    conn = connect()
    registry = conn.registry(opts.app, "workflow start")
    workflows = conn.workflows(registry)
    run_id = workflows.start(
        opts.id, input_, host=opts.host, name=opts.name, conflict=opts.conflict
    )
    host = workflows.host_for(opts.host)
    if not opts.wait:
        if opts.json:
            print_json({"run_id": run_id, "address": run_address(host, run_id)})
        else:
            print(run_id)
        return EXIT_OK
    progress(f"started {run_address(host, run_id)}")
    try:
        info = follow(conn, run_id, opts.timeout)
    except KeyboardInterrupt:  # Ctrl-C stops the waiting, not the run
        raise CliError(
            f"stopped waiting; run {run_id} goes on (see `units workflow describe {run_id}`)"
        ) from None
    return _ended(info, opts.json)


def follow(conn: Connection, run_id: str, timeout: float | None = None) -> dict[str, Any]:
    """Print the run's events to stderr as they are appended until it ends; its index then.

    Raises:
        CliError: the run is parked (its driver failed), or ``timeout`` seconds went by.
    """
    view = conn.inspector
    deadline = None if timeout is None else time.monotonic() + timeout
    seen = 0
    while True:
        # The status first: an ending read after it is still printed before returning.
        info = view.run(run_id)
        for event in view.history(run_id, after=seen):
            progress(f"  {_event_line(event)}")
            seen = event["seq"]
        if info["status"] != "running":
            return info
        parked = view.parked_error(run_id, info["host"])
        if parked is not None:
            raise CliError(f"run {run_id} is parked: its driver failed with {parked.message}")
        if deadline is not None and time.monotonic() >= deadline:
            raise CliError(
                f"run {run_id} is still running after {timeout:g}s "
                f"(see `units workflow describe {run_id}`)"
            )
        conn.sleep(POLL_SECONDS)


def _ended(info: dict[str, Any], as_json: bool) -> int:
    code = EXIT_OK if info["status"] == "completed" else EXIT_ERROR
    if as_json:
        print_json(info)
        return code
    if code == EXIT_OK:
        print_json(info.get("result"))
        return code
    error = info.get("error") or {}
    return fail(f"{info['status']}: {error.get('kind')}: {error.get('message')}", code)


def _event_line(event: dict[str, Any]) -> str:
    return f"#{event['seq']} {event['type']} {_detail(event)}".rstrip()


def _detail(event: dict[str, Any]) -> str:
    return " ".join(
        f"{k}={_value(k, v)}" for k, v in event.items() if k not in _PLUMBING and v is not None
    )


def _value(key: str, value: Any) -> str:
    """A field of an event line: times as dates, an error as ``kind: message`` in full (the
    reason a run is stuck is the line's point), the rest as short JSON."""
    if key == "fire_at":
        return when(value)
    if key == "error" and isinstance(value, dict) and "message" in value:
        return error_text(value)
    return compact(value, 40)


# -- reading --------------------------------------------------------------------------------------
def describe_cmd(opts: argparse.Namespace, connect: Connect) -> int:
    conn = connect()
    view = conn.inspector
    run_id = conn.run_id(opts.run)
    info = view.run(run_id)
    pending = view.pending(run_id)
    parked = view.parked_error(run_id, info["host"]) if info["status"] == "running" else None
    if opts.json:
        print_json(
            {
                **info,
                "pending": [p.to_dict() for p in pending],
                "parked": parked.to_dict() if parked else None,
            }
        )
        return EXIT_OK
    error = info.get("error")
    print(
        fields(
            [
                ("run", run_id),
                ("address", run_address(info["host"], run_id)),
                ("workflow", info["workflow"]),
                ("status", info["status"]),
                ("started", when(info["started"])),
                ("closed", when(info.get("closed")) if "closed" in info else None),
                ("parent", info.get("parent")),
                ("result", compact(info["result"], 200) if "result" in info else None),
                ("error", error_text(error) if error else None),
                ("parked", parked and f"{parked.message} ({parked.execution_arn})"),
            ]
        )
    )
    if pending:
        rows = [
            (p.cmd, p.kind, p.target, when(p.since), _pending_detail(p.to_dict())) for p in pending
        ]
        print("\nwaiting for:")
        print(table(("CMD", "KIND", "WHAT", "SINCE", "DETAIL"), rows))
    return EXIT_OK


def _pending_detail(pending: dict[str, Any]) -> str:
    if "fire_at" in pending:
        retry = f" (retry of #{pending['retry_of']})" if "retry_of" in pending else ""
        return f"fires {when(pending['fire_at'])}{retry}"
    if "attempt" in pending:
        return f"attempt {pending['attempt']}"
    return f"run {pending.get('child_run', '-')}"


def history_command(opts: argparse.Namespace, connect: Connect) -> int:
    conn = connect()
    events = conn.inspector.history(conn.run_id(opts.run))
    if opts.json:
        print_json(events)
        return EXIT_OK
    rows = [(e["seq"], when(e["time"]), e["type"], _detail(e)) for e in events]
    print(table(("SEQ", "TIME", "TYPE", "DETAIL"), rows))
    return EXIT_OK


def list_command(opts: argparse.Namespace, connect: Connect) -> int:
    runs = connect().inspector.runs(opts.status, opts.workflow)
    if opts.json:
        print_json([r.to_dict() for r in runs])
        return EXIT_OK
    rows = [(r.run_id, r.workflow, r.host, r.status, when(r.started), when(r.closed)) for r in runs]
    print(table(("RUN", "WORKFLOW", "HOST", "STATUS", "STARTED", "CLOSED"), rows))
    return EXIT_OK


# -- steering -------------------------------------------------------------------------------------
def signal_command(opts: argparse.Namespace, connect: Connect) -> int:
    payload = None if opts.payload is None else parse_json(opts.payload, "the payload")
    payload = codec.from_json_value(payload)
    conn = connect()
    run_id = conn.run_id(opts.run)
    conn.workflows().signal(run_id, opts.topic, payload)
    return _done(opts, run_id, "signaled", f"sent '{opts.topic}' to run {run_id}")


def cancel_cmd(opts: argparse.Namespace, connect: Connect) -> int:
    conn = connect()
    run_id = conn.run_id(opts.run)
    conn.workflows().cancel(run_id, opts.reason)
    return _done(opts, run_id, "cancel_requested", f"asked run {run_id} to cancel")


def terminate_cmd(opts: argparse.Namespace, connect: Connect) -> int:
    conn = connect()
    run_id = conn.run_id(opts.run)
    if conn.workflows().terminate(run_id, opts.reason):
        return _done(opts, run_id, "terminated", f"terminated run {run_id}")
    # Terminating is idempotent: a run that has ended already is where the caller wants it.
    status = conn.inspector.run(run_id)["status"]
    return _done(opts, run_id, status, f"run {run_id} had already ended ({status})")


def resume_cmd(opts: argparse.Namespace, connect: Connect) -> int:
    conn = connect()
    run_id = conn.run_id(opts.run)
    execution = conn.workflows().resume(run_id)
    return _done(opts, run_id, "resumed", f"resumed run {run_id}: driver execution {execution}")


def _done(opts: argparse.Namespace, run_id: str, what: str, message: str) -> int:
    if opts.json:
        print_json({"run_id": run_id, "result": what})
    else:
        print(message)
    return EXIT_OK
