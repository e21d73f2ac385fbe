"""Building the engine a Lambda container (or the CLI) runs, from its environment."""

from __future__ import annotations

import os
from pathlib import Path

from runtime import manifest
from runtime.aws.lambda_invoke import LambdaInvoker
from runtime.engine import Engine

#: Where the application folder is (the Lambda bundle puts it at ``app/``).
APP_ENV = "UNITS_APP"
#: Set on a remote function's own Lambda: the entry ids this Lambda runs itself.
HOME_FUNCTIONS_ENV = "UNITS_HOME_FUNCTIONS"


def app_dir() -> Path:
    """The application folder named by ``UNITS_APP``, else ``app`` beside the handlers."""
    configured = os.environ.get(APP_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "app"


def engine_from_environment() -> Engine:
    """Load the app and build the engine, with remote calls going through Lambda invoke."""
    registry = manifest.load_app(app_dir())
    home = frozenset(filter(None, os.environ.get(HOME_FUNCTIONS_ENV, "").split(",")))
    return Engine(registry, remote=LambdaInvoker.from_environment(), home_functions=home)
