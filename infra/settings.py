"""What to deploy, from CDK context (``-c key=value``), then the environment, then defaults."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.errors import SynthError

#: The application deployed when neither ``-c app=DIR`` nor ``UNITS_APP`` names one.
DEFAULT_APP = "examples/hello"
#: Lambda architectures the bundler can fetch wheels for. arm64 is the default: Graviton
#: Lambdas cost about 20% less per GB-second and every pinned dependency ships aarch64 wheels.
ARCHITECTURES = ("arm64", "x86_64")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: (context key, environment variable) per setting; context wins because it is the more
#: explicit of the two (typed on the command line for this one synth).
_SOURCES = {
    "app": ("app", "UNITS_APP"),
    "architecture": ("arch", "UNITS_ARCH"),
    "stack_name": ("stack", "UNITS_STACK"),
    "log_level": ("log_level", "UNITS_LOG_LEVEL"),
}
_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Resolved deployment settings.

    ``app_dir`` is the application folder; ``stack_name`` defaults to ``units-<folder name>`` so
    two applications deploy side by side; ``log_level`` is the Powertools log level.
    """

    app_dir: Path
    stack_name: str
    architecture: str = "arm64"
    log_level: str = "INFO"

    @classmethod
    def resolve(
        cls, context: Callable[[str], Any], environ: Mapping[str, str], base: Path | None = None
    ) -> Settings:
        """Settings from ``context`` (e.g. ``app.node.try_get_context``) and ``environ``.

        A relative application folder is taken from ``base`` (default: the working directory,
        which is where ``cdk`` runs ``app.py``). Raises :class:`SynthError` on a bad value.
        """

        def pick(name: str) -> str | None:
            key, variable = _SOURCES[name]
            value = context(key)
            if value is None or value == "":
                value = environ.get(variable) or None
            return None if value is None else str(value)

        app = Path(pick("app") or DEFAULT_APP)
        if not app.is_absolute():
            app = (base or Path.cwd()) / app
        problems = []
        architecture = pick("architecture") or "arm64"
        if architecture not in ARCHITECTURES:
            problems.append(
                f"architecture '{architecture}' is not supported (context 'arch' or UNITS_ARCH: "
                f"{' or '.join(ARCHITECTURES)})"
            )
        log_level = (pick("log_level") or "INFO").upper()
        if log_level not in LOG_LEVELS:
            problems.append(
                f"log level '{log_level}' is not one of {', '.join(LOG_LEVELS)} "
                "(context 'log_level' or UNITS_LOG_LEVEL)"
            )
        stack_name = pick("stack_name") or default_stack_name(app)
        if not _STACK_NAME.fullmatch(stack_name):
            problems.append(
                f"stack name '{stack_name}' is invalid (context 'stack' or UNITS_STACK: a letter, "
                "then letters, digits and '-', at most 128 characters)"
            )
        if problems:
            raise SynthError("invalid deployment settings:", problems)
        return cls(
            app_dir=app, stack_name=stack_name, architecture=architecture, log_level=log_level
        )


def default_stack_name(app_dir: Path) -> str:
    """``units-<folder name>``, reduced to the characters CloudFormation accepts."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", app_dir.resolve().name).strip("-")
    return f"units-{name}"[:128] if name else "units-app"
