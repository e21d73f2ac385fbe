"""``units dev [APP]``: the whole stack on this machine (``runtime.dev``), in the foreground."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from runtime import manifest
from runtime.cli.common import EXIT_USAGE, CliError
from runtime.cli.local import app_hint, default_app, implicit_app
from runtime.errors import ManifestError
from runtime.targets import DEFAULT_DEV_URL

_DEFAULT_PORT = int(DEFAULT_DEV_URL.rsplit(":", 1)[1])
_DEFAULT_HOST = DEFAULT_DEV_URL.split("//", 1)[1].rsplit(":", 1)[0]


def add_parser(sub: Any) -> None:
    dev = sub.add_parser(
        "dev",
        help="run the application's whole stack on this machine (no AWS account)",
        description="An embedded moto server with the stack's resources, the workers and "
        "drivers, and the HTTP API on localhost. The other commands reach it by default.",
    )
    dev.add_argument("app", nargs="?", help="application folder (default $UNITS_APP or .)")
    dev.add_argument("--app", dest="app_option", metavar="DIR", help="the same, as a flag")
    dev.add_argument("--port", type=int, default=_DEFAULT_PORT, help="default %(default)s")
    dev.add_argument("--host", default=_DEFAULT_HOST, help="default %(default)s")
    dev.set_defaults(handler=run)


def run(opts: argparse.Namespace, connect: Any) -> int:
    try:
        dev = importlib.import_module("runtime.dev")
    except ModuleNotFoundError as exc:
        if exc.name != "runtime.dev":
            raise  # something runtime.dev needs is missing: that is its error to show
        raise CliError("the dev stack (runtime.dev) is not part of this installation") from None
    if not hasattr(dev, "main"):
        raise CliError("the dev stack is not available: runtime.dev has no main(app, port, host)")
    if opts.app and opts.app_option and opts.app != opts.app_option:
        raise CliError("give the application folder once (APP or --app DIR)", EXIT_USAGE)
    given = opts.app or opts.app_option
    folder = Path(given or default_app())
    if implicit_app(given):
        # The current folder by default: if it does not load, say how to name the app's.
        try:
            manifest.load_app(folder)
        except ManifestError as exc:
            problems = "\n  ".join(exc.problems)
            hint = app_hint(folder, "the app folder (units dev DIR)")
            raise CliError(f"cannot load {folder}:\n  {problems}\n{hint}") from None
    return int(dev.main(folder, opts.port, opts.host))
