"""Shared fixtures: small application folders written on the fly."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "units-tests")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

MakeApp = Callable[..., Path]


def write_app(root: Path, index: str, files: dict[str, str] | None = None) -> Path:
    """Write ``_index.yaml`` (dedented) and Lua files into ``root``; return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "_index.yaml").write_text(textwrap.dedent(index).lstrip(), encoding="utf-8")
    for name, text in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials for a test that opens its own ``mock_aws`` (boto3 wants some)."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")


@pytest.fixture
def make_app(tmp_path: Path) -> MakeApp:
    """``make_app(index_yaml, {"file.lua": source})`` -> the app folder."""
    counter = iter(range(1000))

    def make(index: str, files: dict[str, str] | None = None) -> Path:
        return write_app(tmp_path / f"app{next(counter)}", index, files)

    return make


def functions_app(make_app: MakeApp, functions: dict[str, tuple[str, list[str]]]) -> Path:
    """An app of function entries ``app:<name>``, each ``name -> (lua source, modules)``."""
    lines = ['version: "1.0"', "namespace: app", "entries:"]
    files = {}
    for name, (source, modules) in functions.items():
        lines += [
            f"  - name: {name}",
            "    kind: function.lua",
            f"    source: file://{name}.lua",
            "    method: handler",
            f"    modules: [{', '.join(modules)}]",
        ]
        files[f"{name}.lua"] = source
    return make_app("\n".join(lines) + "\n", files)


@pytest.fixture(scope="session")
def postgres() -> Any:
    """A real PostgreSQL server for the session (tests/postgres.py); fails, never skips,
    when PostgreSQL is not installed."""
    from tests.postgres import postgres_server

    with postgres_server() as server:
        yield server
