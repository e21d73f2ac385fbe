#!/usr/bin/env python3
"""``cdk synth`` / ``cdk deploy`` entry point: one stack for one application folder.

The folder is ``-c app=DIR``, else ``$UNITS_APP``, else ``examples/hello``; see
``infra/settings.py`` for the other settings and ``docs/deploy.md`` for the whole story.
``python app.py`` alone synthesizes into ``$CDK_OUTDIR`` (``cdk.out`` when unset) and, like the
CDK CLI, exits 1 when the application cannot be deployed or cdk-nag reports an error. It takes
the CLI's ``-c key=value`` (``--context``) options itself, so ``python app.py -c app=DIR`` works
without the CDK CLI (which passes its own context through the environment, not arguments).
"""

from __future__ import annotations

import argparse
import os
import sys

import aws_cdk as cdk

from infra.errors import SynthError
from infra.nag import apply_checks
from infra.plan import load_registry
from infra.settings import Settings
from infra.stack import UnitsStack


def parse_context(argv: list[str]) -> dict[str, str]:
    """``-c key=value`` / ``--context key=value`` options, as the CDK CLI takes them."""
    parser = argparse.ArgumentParser(description="Synthesize the stack of one application.")
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a context value, e.g. app=examples/chat, arch=x86_64 (repeatable)",
    )
    context = {}
    for item in parser.parse_args(argv).context:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"context '{item}' is not KEY=VALUE")
        context[key] = value
    return context


def main(argv: list[str] | None = None) -> int:
    context = parse_context(sys.argv[1:] if argv is None else argv)
    # Given on this command line, they win over the context the CDK CLI passes in the
    # environment (the CLI itself runs app.py without arguments).
    app = cdk.App(outdir=os.environ.get("CDK_OUTDIR") or "cdk.out", post_cli_context=context)
    try:
        settings = Settings.resolve(app.node.try_get_context, os.environ)
        registry = load_registry(settings.app_dir)
        UnitsStack(app, settings.stack_name, registry=registry, settings=settings)
    except SynthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    apply_checks(app)
    assembly = app.synth()
    errors = [
        f"{message.id}: {message.entry.data}"
        for stack in assembly.stacks
        for message in stack.messages
        if message.level == cdk.cx_api.SynthesisMessageLevel.ERROR
    ]
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
