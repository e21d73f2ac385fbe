"""``units invoke ... --app DIR`` and ``units invoke --event FILE``: a function run in this
process, no stack involved.

The result is printed as JSON on stdout (exit 0), or the error's kind and message on stderr
(exit 1). ``--event FILE`` takes a Lambda event instead: a direct invoke ``{"id", "args"}`` or an
API Gateway v2 event, which goes through the HTTP API exactly as behind API Gateway.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from runtime import codec, manifest
from runtime.cli.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, fail, parse_json_args, report
from runtime.errors import ManifestError, UnitError


def default_app() -> str:
    """The application folder when none is given: ``$UNITS_APP``, else the current one."""
    return os.environ.get("UNITS_APP") or "."


def implicit_app(given: str | None) -> bool:
    """Whether the folder a command loads is the current one by default (none given, no
    ``$UNITS_APP``): a failed load then says how to name the right one."""
    return not given and not os.environ.get("UNITS_APP")


def app_hint(folder: Path, how: str = "--app DIR") -> str:
    """What a failed load of the current folder, loaded because no folder was given, adds:
    how to give one, and the application folders found below (a repository of several apps
    loads as one and fails with duplicate ids)."""
    here = folder.resolve()
    found = sorted(
        str(p.parent.relative_to(here))
        for pattern in ("*/_index.yaml", "*/*/_index.yaml")
        for p in here.glob(pattern)
        if not (p.parent.parent / "_index.yaml").is_file() or p.parent.parent == here
    )
    text = (
        f"no application folder was given, so the current folder ({here}) was loaded: "
        f"pass {how}, or set UNITS_APP"
    )
    if found:
        shown = ", ".join(found[:6]) + (", ..." if len(found) > 6 else "")
        text += f" (application folders under it: {shown})"
    return text


def invoke_locally(
    entry_id: str | None, raw_args: list[str], app: str | None, event: Path | None
) -> int:
    """Run ``entry_id`` with ``raw_args`` (each a JSON value), or the Lambda ``event``, in an
    engine over the app folder."""
    if event is None and not entry_id:
        return fail("units invoke: give a function id or --event FILE", EXIT_USAGE)
    if event is not None and (entry_id or raw_args):
        return fail("units invoke: give either a function id or --event, not both", EXIT_USAGE)
    args = parse_json_args(raw_args)
    folder = Path(app or default_app())
    try:
        registry = manifest.load_app(folder)
    except ManifestError as exc:
        message = f"cannot load {folder}:\n  " + "\n  ".join(exc.problems)
        if implicit_app(app):
            message += "\n" + app_hint(folder)
        return fail(message, EXIT_ERROR)
    manifest.announce(registry)  # skipped entries and settings not applied, on stderr

    from runtime.engine import Engine

    engine = Engine(registry, log_sink=_stderr_log)
    try:
        if event is not None:
            return _invoke_event(engine, event)
        try:
            value = engine.call(entry_id, args)
        except UnitError as exc:
            return report(exc)
        print(json.dumps(codec.to_json_value(value), ensure_ascii=False))
        return EXIT_OK
    finally:
        engine.close()


def _invoke_event(engine: Any, path: Path) -> int:
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return fail(f"units invoke: cannot read event {path}: {exc}", EXIT_USAGE)
    if not isinstance(event, dict):
        return fail(f"units invoke: event {path} is not a JSON object", EXIT_USAGE)
    if "requestContext" in event:
        from runtime.http_api import HttpApi

        reply = HttpApi(engine).resolve(event, None)
        print(json.dumps(reply, ensure_ascii=False))
        return EXIT_OK if int(reply.get("statusCode", 500)) < 400 else EXIT_ERROR
    if not isinstance(event.get("id"), str):
        return fail(f"units invoke: event {path} has no function 'id'", EXIT_USAGE)
    try:
        value = engine.call(event["id"], codec.from_json_value(event.get("args") or []))
    except UnitError as exc:
        return report(exc)
    print(json.dumps(codec.to_json_value(value), ensure_ascii=False))
    return EXIT_OK


def _stderr_log(level: str, message: str, fields: dict[str, Any]) -> None:
    extras = " ".join(f"{k}={v}" for k, v in fields.items())
    print(f"[{level}] {message} {extras}".rstrip(), file=sys.stderr)
