"""``units invoke ID [JSON_ARGS...]``: call a function entry on the dev stack or a deployed one.

The dev server runs it (``POST /_units/api/invoke``); a deployed stack's function Lambda is
invoked directly with the payload :mod:`runtime.function_service` takes (``{"id", "args"}``,
answered ``{"ok", "value"}`` or ``{"ok": false, "error"}``). With ``--app DIR`` or ``--event
FILE`` the function runs in this process instead (:mod:`runtime.cli.local`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime.cli.common import EXIT_OK, EXIT_USAGE, CliError, parse_json_args, print_json, report
from runtime.cli.connection import Connection
from runtime.cli.local import invoke_locally
from runtime.errors import INTERNAL, UnitError
from runtime.targets import dev_request


def add_parser(sub: Any, target_options: argparse.ArgumentParser) -> None:
    invoke = sub.add_parser(
        "invoke",
        parents=[target_options],
        help="call a function on the dev stack or a deployed one (or locally with --app)",
        description="Call a function entry and print its result as JSON. Without --app or "
        "--event it runs on the dev stack (or --stack NAME); with them, in this process.",
    )
    invoke.add_argument("id", nargs="?", help="function entry id, e.g. app:greet")
    invoke.add_argument("args", nargs="*", help="arguments, each a JSON value")
    invoke.add_argument("--app", default=None, help="run locally over this application folder")
    invoke.add_argument("--event", type=Path, help="run this Lambda event file locally")
    invoke.set_defaults(handler=run)


def run(opts: argparse.Namespace, connect: Callable[[], Connection]) -> int:
    if opts.app is not None or opts.event is not None:
        if opts.stack or opts.dev:
            raise CliError("--app/--event run the function here: drop --stack/--dev", EXIT_USAGE)
        return invoke_locally(opts.id, opts.args, opts.app, opts.event)
    if not opts.id:
        raise CliError("give a function id (or --event FILE with --app DIR)", EXIT_USAGE)
    args = parse_json_args(opts.args)
    conn = connect()
    try:
        value = _invoke(conn, opts.id, args)
    except UnitError as exc:
        return report(exc)
    print_json(value)
    return EXIT_OK


def _invoke(conn: Connection, entry_id: str, args: list[Any]) -> Any:
    """The function's value (codec JSON form); raises its error as a UnitError."""
    target = conn.target
    if target.dev_url:
        reply = dev_request(target.dev_url, "/invoke", {"id": entry_id, "args": args})
    else:
        name = target.output("FunctionLambdaName", "the stack's function Lambda")
        answer = conn.client("lambda").invoke(
            FunctionName=name, Payload=json.dumps({"id": entry_id, "args": args}).encode()
        )
        reply = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError"):
            # The Lambda itself failed (a crash, a timeout): not the function's own error.
            message = reply.get("errorMessage") if isinstance(reply, dict) else reply
            raise UnitError(INTERNAL, f"the function Lambda {name} failed: {message}")
    if not isinstance(reply, dict):
        raise UnitError(INTERNAL, f"unexpected reply from {target.name}: {reply!r}")
    if "error" in reply:
        error = reply["error"] or {}
        raise UnitError(error.get("kind", INTERNAL), str(error.get("message", "")))
    return reply.get("value")
