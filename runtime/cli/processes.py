"""``units spawn``, ``units send``, ``units ps``, ``units state``: processes on a stack."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from runtime import codec
from runtime.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    compact,
    fields,
    parse_json,
    parse_json_args,
    print_json,
    table,
    when,
)
from runtime.cli.connection import Connection
from runtime.inspection import ProcessDetail
from runtime.processes.context import DirectContext
from runtime.processes.store import RUNNING

Connect = Callable[[], Connection]


def add_parsers(sub: Any, target_options: argparse.ArgumentParser) -> None:
    spawn = sub.add_parser(
        "spawn",
        parents=[target_options],
        help="start a process (or a workflow, on a workflow host) and print its pid",
    )
    spawn.add_argument("id", help="process entry id, e.g. app:counter")
    spawn.add_argument("host", help="process host id, e.g. app:workers")
    spawn.add_argument("args", nargs="*", help="init arguments, each a JSON value")
    spawn.add_argument("--name", help="register the process under this name")
    spawn.add_argument("--app", help="application folder to check the entry against")
    spawn.set_defaults(handler=spawn_command)

    send = sub.add_parser(
        "send", parents=[target_options], help="send a message to a process (or signal a run)"
    )
    send.add_argument("pid", help="a pid, a registered name, or a run address <host>/<run id>")
    send.add_argument("topic", help="the message topic")
    send.add_argument("payload", nargs="?", help="the payload, a JSON value (default null)")
    send.set_defaults(handler=send_command)

    ps = sub.add_parser(
        "ps", parents=[target_options], help="list processes and the hosts' queue depths"
    )
    ps.add_argument("--status", choices=("running", "exited", "crashed"), help="only these")
    ps.set_defaults(handler=ps_command)

    state = sub.add_parser(
        "state", parents=[target_options], help="show a process: status, links, state"
    )
    state.add_argument("pid", help="a pid or a registered name")
    state.set_defaults(handler=state_command)


def spawn_command(opts: argparse.Namespace, connect: Connect) -> int:
    # Arguments are in the codec's JSON form, as on the wire ({"$bytes": ...} for binary).
    args = codec.from_json_value(parse_json_args(opts.args))
    conn = connect()
    registry = conn.registry(opts.app, "spawn")
    # On a workflow host a spawn starts a run, as process.spawn does in Lua.
    on_workflow_host = opts.host in conn.machines
    workflows = conn.workflows(registry) if on_workflow_host else None
    system = None if on_workflow_host else conn.processes(registry)
    pid = DirectContext(system, workflows).spawn(opts.id, opts.host, args, name=opts.name)
    if opts.json:
        print_json({"pid": pid})
    else:
        print(pid)
    return EXIT_OK


def send_command(opts: argparse.Namespace, connect: Connect) -> int:
    payload = None if opts.payload is None else parse_json(opts.payload, "the payload")
    payload = codec.from_json_value(payload)
    conn = connect()
    if conn.is_run(opts.pid):
        run_id = conn.run_id(opts.pid)
        conn.workflows().signal(run_id, opts.topic, payload)
        to = opts.pid
    else:
        # Refused here rather than sent: a message to an unknown or ended process is dropped.
        found = conn.inspector.process(opts.pid)
        if found.status != RUNNING:
            raise CliError(
                f"process {found.pid} has ended ({found.status}): a message to it is dropped"
            )
        system = conn.processes()
        DirectContext(system).send(found.pid, opts.topic, payload)
        to = found.pid
    if opts.json:
        print_json({"sent": True, "to": to, "topic": opts.topic})
    else:
        print(f"sent '{opts.topic}' to {to}")
    return EXIT_OK


def ps_command(opts: argparse.Namespace, connect: Connect) -> int:
    view = connect().inspector
    found = view.processes(opts.status)
    depths = view.queue_depths()
    if opts.json:
        print_json(
            {"processes": [p.to_dict() for p in found], "hosts": [d.to_dict() for d in depths]}
        )
        return EXIT_OK
    rows = [
        (p.pid, p.entry, p.status, ",".join(p.names), p.version, when(p.started)) for p in found
    ]
    print(table(("PID", "ENTRY", "STATUS", "NAME", "TURNS", "STARTED"), rows))
    if depths:
        print()
        hosts = [(d.host, d.queued, d.in_flight, d.delayed, d.dead_letters) for d in depths]
        print(table(("HOST", "QUEUED", "IN FLIGHT", "DELAYED", "DEAD LETTERS"), hosts))
    return EXIT_OK


def state_command(opts: argparse.Namespace, connect: Connect) -> int:
    conn = connect()
    if conn.is_run(opts.pid):
        raise CliError(
            f"{opts.pid} is a workflow run: see `units workflow describe {opts.pid}`", EXIT_USAGE
        )
    detail = conn.inspector.process(opts.pid)
    if opts.json:
        print_json(detail.to_dict())
    else:
        print(_describe(detail))
    return EXIT_OK


def _describe(p: ProcessDetail) -> str:
    error = p.error or {}
    head = fields(
        [
            ("pid", p.pid),
            ("entry", p.entry),
            ("style", "loop (a main over a journal)" if p.style == "loop" else None),
            ("host", p.host),
            ("status", p.status),
            ("names", ", ".join(p.names) or "-"),
            ("turns", p.version),
            ("started", when(p.started)),
            ("updated", when(p.updated)),
            ("parent", p.parent),
            ("service", p.service and f"{p.service} (restarts: {p.attempt})"),
            ("links", ", ".join(p.links) or "-"),
            ("monitors", ", ".join(p.monitors) or "-"),
            ("trap_links", "yes" if p.trap_links else None),
            ("result", compact(p.result) if p.status == "exited" else None),
            ("error", f"{error.get('kind')}: {error.get('message')}" if p.error else None),
        ]
    )
    state = json.dumps(p.state, ensure_ascii=False, indent=2, sort_keys=True)
    return f"{head}\nstate:\n{state}"
