"""The ``units`` command line.

- ``units dev [APP]``: the whole stack on this machine (:mod:`runtime.cli.dev`).
- ``units invoke``: a function, on a stack or in this process (:mod:`runtime.cli.functions`).
- ``units spawn|send|ps|state``: processes (:mod:`runtime.cli.processes`).
- ``units workflow start|describe|history|signal|cancel|terminate|list``: workflow runs
  (:mod:`runtime.cli.workflows`).
- ``units logs``: log lines (:mod:`runtime.cli.logs`).
- ``units resources``: stores' keys, buckets' objects, queues' depths
  (:mod:`runtime.cli.resources`).

The stack commands go to the dev stack (``--dev URL``, ``$UNITS_DEV_URL``, default
``http://127.0.0.1:8787``) or to a deployed stack (``--stack NAME [--region R]``); they print
aligned tables, or JSON with ``--json``; what waits reports progress on stderr. Exit codes:
0 done, 1 an error (the message on stderr), 2 a usage error (bad arguments, JSON that is not).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from runtime.cli import dev, functions, logs, processes, resources, workflows
from runtime.cli.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CliError, fail, report
from runtime.cli.connection import Connection
from runtime.errors import UnitError
from runtime.targets import TargetError, resolve_target

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "Connection", "main"]


def _target_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    where = options.add_argument_group("where")
    where.add_argument("--stack", help="a deployed stack's name (default: the dev stack)")
    where.add_argument("--region", help="the deployed stack's region (default: AWS config)")
    where.add_argument(
        "--dev",
        metavar="URL",
        help="the dev server (default $UNITS_DEV_URL or http://127.0.0.1:8787)",
    )
    options.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return options


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="units", description="Run Lua compute units.")
    sub = parser.add_subparsers(dest="command", required=True)
    target_options = _target_options()
    dev.add_parser(sub)
    functions.add_parser(sub, target_options)
    processes.add_parsers(sub, target_options)
    workflows.add_parsers(sub, target_options)
    logs.add_parser(sub, target_options)
    resources.add_parser(sub, target_options)
    return parser


def main(argv: list[str] | None = None, *, connection: Connection | None = None) -> int:
    """Entry point of the ``units`` console script.

    ``connection`` replaces the one the target options would make (embedding, tests).
    """
    opts = _parser().parse_args(argv)
    name = opts.command + (f" {opts.workflow_command}" if opts.command == "workflow" else "")
    handler: Callable[..., int] = opts.handler

    def connect() -> Connection:
        if connection is not None:
            return connection
        if opts.stack and opts.dev:
            raise CliError("give either --stack or --dev, not both", EXIT_USAGE)
        return Connection(resolve_target(opts.stack, opts.dev, opts.region))

    try:
        return handler(opts, connect)
    except CliError as exc:
        return fail(f"units {name}: {exc.message}", exc.code)
    except TargetError as exc:
        return fail(f"units {name}: {exc}", EXIT_ERROR)
    except UnitError as exc:
        return report(exc)
    except ClientError as exc:  # AWS refused (permissions, a resource deleted since deploy)
        error = exc.response.get("Error", {})
        return fail(f"units {name}: AWS {error.get('Code')}: {error.get('Message')}", EXIT_ERROR)
    except BotoCoreError as exc:  # no credentials, an endpoint that does not answer
        return fail(f"units {name}: {exc}", EXIT_ERROR)


if __name__ == "__main__":
    sys.exit(main())
