"""The Lambda code asset, built without Docker: CDK local bundling around ``pip --platform``.

The asset holds ``runtime/``, ``handlers/``, the application folder at ``app/`` and the runtime
dependencies of ``pyproject.toml`` as Linux wheels for the Lambda's architecture and Python,
installed by pip with ``--platform ... --only-binary=:all:`` so no compiler or container is
needed. The installed dependencies are cached per (architecture, Python, requirements) under
the user's cache folder, so only the first synth on a machine downloads anything.

The install is slimmed before it is cached: lupa's Lua runtimes but the one the kit uses
(:data:`LUA_RUNTIME`) are removed, every extension module is stripped of its symbol table and
debug information (:mod:`infra.elf`), and everything is compiled to bytecode for the Lambda's
Python (``unchecked-hash`` ``.pyc`` files: ``/var/task`` is read-only, so without them every
cold start compiles every module it imports) by an interpreter of that version found on this
machine (:func:`lambda_python`); without one, the bundle has no bytecode and says so in
``units-bundle.json``.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra import elf
from infra.errors import SynthError
from runtime.dialect import PRECOMPILED_FILE, write_precompiled

#: The project root: where ``runtime/``, ``handlers/`` and ``pyproject.toml`` are.
ROOT = Path(__file__).resolve().parent.parent
#: The Lambda runtime's Python (``lambdas.RUNTIME``); wheels are fetched for this version.
PYTHON_VERSION = "3.12"
#: Folders of the project copied into the bundle as they are.
CODE_FOLDERS = ("runtime", "handlers")
#: Where the application folder goes in the bundle (``runtime.bootstrap`` looks there).
APP_FOLDER = "app"
BUNDLE_INFO = "units-bundle.json"
#: Distributions the Lambda Python runtime already provides. They are left out of the bundle:
#: boto3 + botocore alone are 34 MB unzipped (the bundle would pass the 50 MB goal), and the
#: kit only makes Lambda Invoke calls, an API every runtime boto3 has. aws-xray-sdk pulls
#: botocore in as a dependency, which is why they are removed after the install.
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)
#: The one Lua runtime of lupa's the kit uses (``from lupa import lua54`` in runtime/sandbox.py
#: and runtime/codec.py); the others (about 3.6 MB) are left out of the bundle.
LUA_RUNTIME = "lua54"
#: Where Lambda unpacks the code asset (``environment.TASK_ROOT``): the bytecode's file names.
TASK_ROOT = "/var/task"
#: Bumped when the layout of a cached install changes, so stale caches are not reused.
_CACHE_LAYOUT = 2
_MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}
# The python3.12 Lambda runtime is Amazon Linux 2023 (glibc 2.34): any manylinux wheel up to
# 2_34 runs there. pip does not widen manylinux_2_x tags by itself, so each is listed,
# newest first (pip prefers earlier platforms).
_GLIBC_TAGS = ("manylinux_2_34", "manylinux_2_28", "manylinux_2_17", "manylinux2014")
_COMPLETE = ".complete"


@functools.cache
def lambda_python(version: str) -> str | None:
    """An interpreter of Python ``version`` on this machine, to compile the bundle's bytecode
    with: ``$UNITS_LAMBDA_PYTHON``, this one when it is that version, ``python<version>`` on
    ``PATH``, then pyenv's installs; each checked by running it. None when there is none."""
    candidates = [os.environ.get("UNITS_LAMBDA_PYTHON"), shutil.which(f"python{version}")]
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        candidates.insert(1, sys.executable)
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += sorted(str(p) for p in pyenv.glob(f"versions/{version}.*/bin/python{version}"))
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> tuple[str, ...]:
    """``[project].dependencies`` of ``pyproject``, minus what the Lambda runtime provides."""
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    kept = []
    for requirement in dependencies:
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        if name is None or normalize(name[0]) not in RUNTIME_PROVIDED:
            kept.append(requirement)
    return tuple(sorted(kept))


def default_cache_dir() -> Path:
    """``$UNITS_CACHE_DIR``, else ``$XDG_CACHE_HOME/compute-units``, else ``~/.cache/...``."""
    configured = os.environ.get("UNITS_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "compute-units"


@dataclass(frozen=True, slots=True, kw_only=True)
class LambdaBundle:
    """How to build the code asset: for which Lambda architecture and Python, with what.

    ``python_version`` is the Lambda runtime's; a test may set another to import the bundle on
    the machine running it.
    """

    architecture: str = "arm64"
    python_version: str = PYTHON_VERSION
    requirements: tuple[str, ...] = field(default_factory=runtime_requirements)
    cache_dir: Path = field(default_factory=default_cache_dir)

    def __post_init__(self) -> None:
        if self.architecture not in _MACHINES:
            raise SynthError(f"no wheels for architecture '{self.architecture}'")

    @property
    def platforms(self) -> tuple[str, ...]:
        """The pip ``--platform`` values for this architecture."""
        machine = _MACHINES[self.architecture]
        return tuple(f"{tag}_{machine}" for tag in _GLIBC_TAGS)

    @property
    def dependencies_key(self) -> str:
        """Identifies an install of the dependencies: same key, same files."""
        spec = {
            "layout": _CACHE_LAYOUT,
            "platforms": self.platforms,
            "python": self.python_version,
            "requirements": sorted(self.requirements),
            "left_out": sorted(RUNTIME_PROVIDED),
            "lua_runtime": LUA_RUNTIME,
            "bytecode": self.bytecode,
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def bytecode(self) -> bool:
        """Whether the bundle carries bytecode: an interpreter of its Python is on this
        machine (:func:`lambda_python`)."""
        return lambda_python(self.python_version) is not None

    def code(self, app_dir: Path, *, prepare: bool = True) -> lambda_.Code:
        """The asset for CDK: bundled locally, hashed from its inputs (not the project tree).

        ``prepare`` installs the dependencies now, in Python, so a pip failure is a
        :class:`SynthError` with pip's message rather than an error wrapped by jsii's callback
        machinery. Pass False when CDK will skip bundling (``Stack.bundling_required``).
        """
        if prepare:
            self.dependencies()
        return lambda_.Code.from_asset(
            str(ROOT),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=self.asset_hash(app_dir),
            bundling=BundlingOptions(
                # Never pulled: local bundling always succeeds or raises, so CDK has no reason to
                # fall back to Docker. The option is mandatory in the API.
                image=DockerImage.from_registry("unused"),
                local=_LocalBundling(self, app_dir),
            ),
        )

    def asset_hash(self, app_dir: Path) -> str:
        """Hash of everything that goes into the bundle, so an unchanged app redeploys nothing."""
        digest = hashlib.sha256(self.dependencies_key.encode())
        sources = [(name, ROOT / name) for name in CODE_FOLDERS] + [(APP_FOLDER, app_dir)]
        for prefix, folder in sources:
            for path in _files(folder):
                digest.update(f"{prefix}/{path.relative_to(folder).as_posix()}\0".encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()

    def build(self, app_dir: Path, output_dir: Path) -> None:
        """Write the bundle into ``output_dir``: dependencies, code folders, the app."""
        site = self.dependencies()
        shutil.copytree(site, output_dir, dirs_exist_ok=True, ignore=_ignore_marker)
        for name in (*CODE_FOLDERS, APP_FOLDER):
            if (output_dir / name).exists():
                raise SynthError(f"a dependency installs a top-level '{name}', which the kit uses")
        for name in CODE_FOLDERS:
            _copy_tree(ROOT / name, output_dir / name)
        _copy_tree(app_dir, output_dir / APP_FOLDER)
        # Typed Lua translated now, so that no cold start pays for it (runtime/dialect).
        write_precompiled(app_dir, output_dir / APP_FOLDER / PRECOMPILED_FILE)
        # The dependencies' bytecode is in the cache; the kit's and the app's are made now.
        self._compile(output_dir, [output_dir / name for name in (*CODE_FOLDERS, APP_FOLDER)])
        info = {
            "architecture": self.architecture,
            "python_version": self.python_version,
            "platforms": self.platforms,
            "requirements": self.requirements,
            "left_out": sorted(RUNTIME_PROVIDED),
            "lua_runtime": LUA_RUNTIME,
            "bytecode": self.bytecode,
        }
        (output_dir / BUNDLE_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    def dependencies(self) -> Path:
        """The folder of installed dependencies, installed by pip on first use, then cached."""
        name = f"site-{self.architecture}-py{self.python_version}-{self.dependencies_key}"
        target = self.cache_dir / name
        if (target / _COMPLETE).exists():
            return target
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # Install beside the target and rename, so a concurrent or interrupted synth never sees
        # a half-installed folder.
        scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.cache_dir))
        try:
            self._pip_install(scratch)
            _remove_distributions(scratch, RUNTIME_PROVIDED)
            _keep_one_lua_runtime(scratch)
            for path in scratch.rglob("*.so*"):
                if path.is_file() and not path.is_symlink():
                    elf.strip(path)
            self._compile(scratch, [scratch])
            (scratch / _COMPLETE).touch()
            try:
                scratch.rename(target)
            except OSError:
                if not (target / _COMPLETE).exists():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return target

    def _compile(self, root: Path, folders: list[Path]) -> None:
        """Compile the ``.py`` files of ``folders`` (under ``root``, which is ``/var/task`` on
        Lambda) for the bundle's Python, when an interpreter of it is here. ``unchecked-hash``:
        Python loads them without looking at the sources (whose times the asset zip does not
        keep). A file that does not compile (a template, a Python 2 leftover) is left without."""
        python = lambda_python(self.python_version)
        if python is None:
            return
        command = [
            python,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(root),
            "-p",
            TASK_ROOT,
            *(str(f) for f in folders if f.exists()),
        ]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        subprocess.run(command, capture_output=True, text=True, check=False, env=env)

    def _pip_install(self, target: Path) -> None:
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            # The .pyc pip would write are for this machine's Python, useless on Lambda's.
            "--no-compile",
            "--target",
            str(target),
            "--implementation",
            "cp",
            "--python-version",
            self.python_version,
            "--only-binary=:all:",
            *(f"--platform={p}" for p in self.platforms),
            *self.requirements,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
            raise SynthError(
                f"pip could not install the Lambda dependencies for {self.architecture} / "
                f"Python {self.python_version} (is PyPI reachable?):",
                [" ".join(command[3:]), tail],
            )


@jsii.implements(ILocalBundling)
class _LocalBundling:
    """The ``ILocalBundling`` CDK calls with the folder to fill."""

    def __init__(self, bundle: LambdaBundle, app_dir: Path) -> None:
        self._bundle = bundle
        self._app_dir = app_dir

    def try_bundle(self, output_dir: str, *_options: Any, **_kwargs: Any) -> bool:
        self._bundle.build(self._app_dir, Path(output_dir))
        return True


def _skipped(name: str) -> bool:
    return name.startswith(".") or name == "__pycache__" or name.endswith(".pyc")


def _files(folder: Path) -> Iterator[Path]:
    """Files of ``folder`` that go into the bundle, in a stable order."""
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _skipped(d))
        for name in sorted(files):
            if not _skipped(name):
                yield Path(current) / name


def _copy_tree(source: Path, target: Path) -> None:
    for path in _files(source):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)


def _ignore_marker(folder: str, names: list[str]) -> list[str]:
    return [_COMPLETE] if _COMPLETE in names else []


def _keep_one_lua_runtime(site: Path) -> None:
    """Remove lupa's Lua runtimes (``lua51``... ``luajit21`` extension modules) but
    :data:`LUA_RUNTIME`."""
    for path in (site / "lupa").glob("*.so"):
        name = path.name.split(".", 1)[0]
        if re.fullmatch(r"lua(jit)?\d+", name) and name != LUA_RUNTIME:
            path.unlink()


def _remove_distributions(site: Path, names: frozenset[str]) -> None:
    """Delete the files of installed distributions ``names`` (as their RECORD lists them)."""
    for info in site.glob("*.dist-info"):
        metadata = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
        name = re.search(r"^Name:\s*(\S+)", metadata, re.MULTILINE)
        if name is None or normalize(name[1]) not in names:
            continue
        folders = set()
        record = (info / "RECORD").read_text(encoding="utf-8").splitlines()
        for row in csv.reader(record):
            path = (site / row[0]).resolve()
            if site.resolve() in path.parents and path.is_file():
                path.unlink()
                folders.update(path.parents)
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            if folder != site.resolve() and site.resolve() in folder.parents:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty: a shared folder keeps its other files
        shutil.rmtree(info, ignore_errors=True)
    # Console scripts (pip --target puts them in bin/) have no use on Lambda.
    shutil.rmtree(site / "bin", ignore_errors=True)
