"""The ``units`` command line.

``units invoke ID [JSON_ARGS...] --app DIR`` runs a function locally and prints its result as JSON
on stdout (exit 0), or the error's kind and message on stderr (exit 1). ``units invoke --event
FILE`` takes a Lambda event instead: a direct invoke ``{"id", "args"}`` or an API Gateway v2 event,
which goes through the HTTP API exactly as behind API Gateway. Usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from runtime import codec, manifest
from runtime.errors import ManifestError, UnitError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _default_app() -> str:
    return os.environ.get("UNITS_APP") or "."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="units", description="Run Lua compute units.")
    sub = parser.add_subparsers(dest="command", required=True)
    invoke = sub.add_parser("invoke", help="run a function locally and print its result as JSON")
    invoke.add_argument("id", nargs="?", help="function entry id, e.g. app:greet")
    invoke.add_argument("args", nargs="*", help="arguments, each a JSON value")
    invoke.add_argument("--app", default=None, help="application folder (default $UNITS_APP or .)")
    invoke.add_argument("--event", type=Path, help="a Lambda event file to run instead")
    return parser


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code


def _parse_args(raw: list[str]) -> list[Any]:
    values = []
    for i, text in enumerate(raw, 1):
        try:
            values.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"argument {i} is not JSON: {text!r} ({exc.msg}); quote strings, e.g. '\"ada\"'"
            ) from None
    return values


def _invoke(opts: argparse.Namespace) -> int:
    if opts.event is None and not opts.id:
        return _fail("units invoke: give a function id or --event FILE", EXIT_USAGE)
    if opts.event is not None and (opts.id or opts.args):
        return _fail("units invoke: give either a function id or --event, not both", EXIT_USAGE)
    app = Path(opts.app or _default_app())
    try:
        registry = manifest.load_app(app)
    except ManifestError as exc:
        return _fail(f"cannot load {app}:\n  " + "\n  ".join(exc.problems), EXIT_ERROR)

    from runtime.engine import Engine

    engine = Engine(registry, log_sink=_stderr_log)
    try:
        if opts.event is not None:
            return _invoke_event(engine, opts.event)
        try:
            args = _parse_args(opts.args)
        except ValueError as exc:
            return _fail(f"units invoke: {exc}", EXIT_USAGE)
        try:
            value = engine.call(opts.id, args)
        except UnitError as exc:
            return _report(exc)
        print(json.dumps(codec.to_json_value(value), ensure_ascii=False))
        return EXIT_OK
    finally:
        engine.close()


def _invoke_event(engine: Any, path: Path) -> int:
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return _fail(f"units invoke: cannot read event {path}: {exc}", EXIT_USAGE)
    if not isinstance(event, dict):
        return _fail(f"units invoke: event {path} is not a JSON object", EXIT_USAGE)
    if "requestContext" in event:
        from runtime.http_api import HttpApi

        reply = HttpApi(engine).resolve(event, None)
        print(json.dumps(reply, ensure_ascii=False))
        return EXIT_OK if int(reply.get("statusCode", 500)) < 400 else EXIT_ERROR
    if not isinstance(event.get("id"), str):
        return _fail(f"units invoke: event {path} has no function 'id'", EXIT_USAGE)
    try:
        value = engine.call(event["id"], codec.from_json_value(event.get("args") or []))
    except UnitError as exc:
        return _report(exc)
    print(json.dumps(codec.to_json_value(value), ensure_ascii=False))
    return EXIT_OK


def _report(exc: UnitError) -> int:
    message = f"{exc.kind}: {exc.message}"
    trace = exc.details.get("traceback") if exc.details else None
    if trace and trace.strip() != exc.message.strip():
        message += "\n" + trace
    return _fail(message, EXIT_ERROR)


def _stderr_log(level: str, message: str, fields: dict[str, Any]) -> None:
    extras = " ".join(f"{k}={v}" for k, v in fields.items())
    print(f"[{level}] {message} {extras}".rstrip(), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``units`` console script."""
    opts = _parser().parse_args(argv)
    if opts.command == "invoke":
        return _invoke(opts)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
