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
aligned tables, or JSON with ``--json``; what waits reports progress on stderr. These shared
flags, and ``--app DIR``, may come before the subcommand as well as after it. Exit codes:
0 done, 1 an error (the message on stderr), 2 a usage error (bad arguments, JSON that is not);
a reader that stops reading (``units logs | head -1``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from importlib import metadata

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


#: Flags every stack command takes (with their value, but --json), which may also come first.
_SHARED_WITH_VALUE = ("--stack", "--region", "--dev", "--app")
_SHARED_FLAGS = ("--json",)
#: Subcommands that have subcommands of their own (the shared flags go after those).
_NESTED = ("workflow",)
#: The exit status of a command whose reader went away (128 + SIGPIPE, as a shell reports).
EXIT_CLOSED_PIPE = 141


def version() -> str:
    """The installed kit's version."""
    try:
        return metadata.version("compute-units")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="units",
        description="Run Lua compute units. The shared flags (--dev URL, --stack NAME, "
        "--region R, --json, --app DIR) go before or after the subcommand.",
    )
    parser.add_argument("--version", action="version", version=f"units {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    target_options = _target_options()
    dev.add_parser(sub)
    functions.add_parser(sub, target_options)
    processes.add_parsers(sub, target_options)
    workflows.add_parsers(sub, target_options)
    logs.add_parser(sub, target_options)
    resources.add_parser(sub, target_options)
    parser.set_defaults(handler=lambda opts, connect: _usage(parser, "give a command"))
    return parser


def _usage(parser: argparse.ArgumentParser, what: str) -> int:
    """A command given without its subcommand: its help, and what to add, in plain words."""
    parser.print_help(sys.stderr)
    print(f"\n{parser.prog}: {what} (one of the commands above)", file=sys.stderr)
    return EXIT_USAGE


def shared_flags_last(argv: list[str]) -> list[str]:
    """``argv`` with the shared flags given before the subcommand moved after it (after the
    sub-subcommand of ``workflow``), where each subcommand's parser takes them."""
    moved: list[str] = []
    rest = list(argv)
    while rest and rest[0].startswith("--"):
        flag = rest[0].split("=", 1)[0]
        if flag in _SHARED_FLAGS:
            moved.append(rest.pop(0))
        elif flag in _SHARED_WITH_VALUE:
            moved.append(rest.pop(0))
            if "=" not in moved[-1] and rest:
                moved.append(rest.pop(0))
        else:
            break  # --version, --help, or a mistake argparse will name
    if not moved or not rest:
        return moved + rest
    at = 1
    if rest[0] in _NESTED and len(rest) > 1 and not rest[1].startswith("-"):
        at = 2
    return rest[:at] + moved + rest[at:]


def main(argv: list[str] | None = None, *, connection: Connection | None = None) -> int:
    """Entry point of the ``units`` console script.

    ``connection`` replaces the one the target options would make (embedding, tests).
    """
    args = shared_flags_last(sys.argv[1:] if argv is None else list(argv))
    try:
        code = _run(args, connection)
        sys.stdout.flush()  # here, where a closed pipe is caught, rather than at exit
        return code
    except BrokenPipeError:
        # The reader went away (`units logs | head -1`): stop quietly. What is still buffered
        # for stdout goes nowhere, so that Python's own flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_CLOSED_PIPE


def _run(argv: list[str], connection: Connection | None) -> int:
    opts = _parser().parse_args(argv)
    command = opts.command or ""
    sub = getattr(opts, "workflow_command", None)
    name = command + (f" {sub}" if sub else "")
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
