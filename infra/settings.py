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
#: The stage when none is given: a development stack, deleted whole by ``cdk destroy``.
DEFAULT_STAGE = "dev"
#: Stage names that are production (see :attr:`Settings.production`): ``prod``,
#: ``production``, and either with a ``-suffix`` (``prod-eu``).
_PRODUCTION_STAGE = re.compile(r"(prod|production)(-[a-z0-9-]*)?")
_STAGE = re.compile(r"[a-z][a-z0-9-]{0,31}")
#: Step Functions log levels the drivers' logging takes (``sfn.LogLevel``).
WORKFLOW_LOG_LEVELS = ("OFF", "FATAL", "ERROR", "ALL")
#: The HTTP API stage's default throttling: steady requests per second and the burst bucket.
#: A public route's cost is bounded by them; raise them for traffic that needs more.
DEFAULT_API_RATE = 100
DEFAULT_API_BURST = 200
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

#: (context key, environment variable) per setting; context wins because it is the more
#: explicit of the two (typed on the command line for this one synth).
_SOURCES = {
    "app": ("app", "UNITS_APP"),
    "architecture": ("arch", "UNITS_ARCH"),
    "stack_name": ("stack", "UNITS_STACK"),
    "log_level": ("log_level", "UNITS_LOG_LEVEL"),
    "stage": ("stage", "UNITS_STAGE"),
    "alarm_email": ("alarm_email", "UNITS_ALARM_EMAIL"),
    "api_rate": ("api_rate", "UNITS_API_RATE"),
    "api_burst": ("api_burst", "UNITS_API_BURST"),
    "workflow_log_level": ("workflow_log_level", "UNITS_WORKFLOW_LOG_LEVEL"),
    "workflow_log_data": ("workflow_log_data", "UNITS_WORKFLOW_LOG_DATA"),
}
_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Resolved deployment settings.

    ``app_dir`` is the application folder; ``stack_name`` defaults to ``units-<folder name>``
    (``units-<folder name>-<stage>`` for a stage other than ``dev``) so two applications, or two
    stages of one, deploy side by side; ``log_level`` is the Powertools log level.

    ``stage`` names the deployment (``dev`` by default); a production stage (:attr:`production`)
    keeps its tables on ``cdk destroy`` and has deletion and termination protection on.
    ``alarm_email`` subscribes an address to the alarm topic (None: no subscription).
    ``api_rate`` / ``api_burst`` throttle the HTTP API's stage (requests per second, burst).
    ``workflow_log_level`` and ``workflow_log_data`` are the driver state machines' logging
    (level, and whether executions' input and output are logged).
    """

    app_dir: Path
    stack_name: str
    architecture: str = "arm64"
    log_level: str = "INFO"
    stage: str = DEFAULT_STAGE
    alarm_email: str | None = None
    api_rate: int = DEFAULT_API_RATE
    api_burst: int = DEFAULT_API_BURST
    workflow_log_level: str = "ERROR"
    workflow_log_data: bool = False

    @property
    def production(self) -> bool:
        """Whether :attr:`stage` is a production stage: ``prod``, ``production``, or either
        followed by ``-<suffix>``."""
        return _PRODUCTION_STAGE.fullmatch(self.stage) is not None

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
        stage = pick("stage") or DEFAULT_STAGE
        if not _STAGE.fullmatch(stage):
            problems.append(
                f"stage '{stage}' is invalid (context 'stage' or UNITS_STAGE: a lowercase letter, "
                "then lowercase letters, digits and '-', at most 32 characters)"
            )
        alarm_email = pick("alarm_email")
        if alarm_email is not None and not _EMAIL.fullmatch(alarm_email):
            problems.append(
                f"alarm email '{alarm_email}' is not an email address (context 'alarm_email' or "
                "UNITS_ALARM_EMAIL)"
            )
        limits = {}
        for name, default, high in (
            ("api_rate", DEFAULT_API_RATE, 10_000),
            ("api_burst", DEFAULT_API_BURST, 5_000),
        ):
            raw = pick(name) or str(default)
            value = int(raw) if re.fullmatch(r"\d+", raw) else None
            if value is None or not 1 <= value <= high:
                key, variable = _SOURCES[name]
                problems.append(
                    f"{key} '{raw}' is out of range (context '{key}' or {variable}: a whole "
                    f"number from 1 to {high}, the account's default limit)"
                )
            limits[name] = value or default
        workflow_log_level = (pick("workflow_log_level") or "ERROR").upper()
        if workflow_log_level not in WORKFLOW_LOG_LEVELS:
            problems.append(
                f"workflow log level '{workflow_log_level}' is not one of "
                f"{', '.join(WORKFLOW_LOG_LEVELS)} (context 'workflow_log_level' or "
                "UNITS_WORKFLOW_LOG_LEVEL)"
            )
        raw_data = (pick("workflow_log_data") or "false").lower()
        if raw_data not in _TRUE + _FALSE:
            problems.append(
                f"workflow_log_data '{raw_data}' is not true or false (context "
                "'workflow_log_data' or UNITS_WORKFLOW_LOG_DATA)"
            )
        stack_name = pick("stack_name") or default_stack_name(app, stage)
        if not _STACK_NAME.fullmatch(stack_name):
            problems.append(
                f"stack name '{stack_name}' is invalid (context 'stack' or UNITS_STACK: a letter, "
                "then letters, digits and '-', at most 128 characters)"
            )
        if problems:
            raise SynthError("invalid deployment settings:", problems)
        return cls(
            app_dir=app,
            stack_name=stack_name,
            architecture=architecture,
            log_level=log_level,
            stage=stage,
            alarm_email=alarm_email,
            api_rate=limits["api_rate"],
            api_burst=limits["api_burst"],
            workflow_log_level=workflow_log_level,
            workflow_log_data=raw_data in _TRUE,
        )


def default_stack_name(app_dir: Path, stage: str = DEFAULT_STAGE) -> str:
    """``units-<folder name>`` (``-<stage>`` added for a stage other than ``dev``), reduced to
    the characters CloudFormation accepts."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", app_dir.resolve().name).strip("-")
    base = f"units-{name}" if name else "units-app"
    return (base if stage == DEFAULT_STAGE else f"{base}-{stage}")[:128]
