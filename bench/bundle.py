"""The Lambda bundle: its size, and the cold import of its handlers on the Lambda's Python.

``python -m bench.bundle [APP] [--arch arm64|x86_64] [--python 3.12]`` builds the bundle as
``cdk synth`` does (``infra.bundling.LambdaBundle``) into a temporary folder and prints its size
unzipped and zipped (what Lambda stores), its file count, and what its largest parts weigh.
With ``--import`` it also times a cold import of ``handlers.api`` and ``handlers.function`` from
the bundle alone, as a cold Lambda does it: a fresh interpreter of the bundle's Python (found
as the bundler finds it: ``UNITS_LAMBDA_PYTHON``, ``python3.12`` on ``PATH``, pyenv), nothing but
the bundle on ``sys.path`` first, then what the Lambda runtime provides (boto3 and botocore,
at the version ``pyproject.toml`` pins, installed once with their bytecode as the runtime's
image has them), and no bytecode written (``/var/task`` is read-only). That needs a bundle this
machine can load: ``--arch`` of this machine.

Not part of ``python -m bench``: the first run for an architecture downloads its wheels.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5
_IMPORT = """
import time
start = time.perf_counter()
import {module}
print(time.perf_counter() - start)
"""


def folder_size(folder: Path) -> tuple[int, int]:
    """(bytes, files) of everything under ``folder``."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def zipped_size(folder: Path) -> int:
    """The bundle zipped as CDK zips an asset (deflate), in bytes."""
    with tempfile.TemporaryFile() as out:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder).as_posix())
        return out.tell()


def runtime_site(python: str, version: str) -> Path:
    """A folder with what the Lambda runtime provides (boto3, botocore and their own
    dependencies, compiled), for ``python``; installed by pip on first use."""
    from infra.bundling import default_cache_dir

    pins = [
        r
        for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
        if r.startswith("boto3")
    ]
    target = default_cache_dir() / f"lambda-runtime-py{version}-{'-'.join(pins)}"
    if not (target / ".complete").exists():
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--target", str(target), *pins],
            check=True,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
        (target / ".complete").touch()
    return target


def cold_import(python: str, bundle: Path, module: str, provided: Path) -> float:
    """Median seconds of ``import module`` in a fresh interpreter over the bundle (and what
    the runtime provides, ``provided``)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{bundle}{os.pathsep}{provided}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "UNITS_APP": str(bundle / "app"),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    samples = []
    for _ in range(RUNS):
        done = subprocess.run(
            [python, "-c", _IMPORT.format(module=module)],
            cwd=bundle,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    from infra.bundling import LambdaBundle, lambda_python

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", nargs="?", default=str(ROOT / "examples" / "hello"))
    parser.add_argument("--arch", default="arm64", choices=("arm64", "x86_64"))
    parser.add_argument("--python", default="3.12")
    parser.add_argument("--import", dest="imports", action="store_true")
    args = parser.parse_args(argv)
    bundle = LambdaBundle(architecture=args.arch, python_version=args.python)
    with tempfile.TemporaryDirectory() as out:
        folder = Path(out)
        bundle.build(Path(args.app), folder)
        size, files = folder_size(folder)
        print(f"bundle ({args.arch}, Python {args.python}, {Path(args.app).name}):")
        zipped = zipped_size(folder)
        print(f"  {size / 1e6:.1f} MB unzipped, {files} files, {zipped / 1e6:.1f} MB zipped")
        parts = sorted(
            ((folder_size(p)[0], p.name) for p in folder.iterdir() if p.is_dir()), reverse=True
        )
        print("  " + ", ".join(f"{name} {weight / 1e6:.1f} MB" for weight, name in parts[:8]))
        if args.imports:
            python = lambda_python(args.python)
            if python is None:
                print(f"  no Python {args.python} interpreter here: no import timing")
                return 1
            provided = runtime_site(python, args.python)
            for module in ("handlers.api", "handlers.function"):
                seconds = cold_import(python, folder, module, provided)
                print(f"  cold import of {module}: {seconds * 1000:.0f} ms (median of {RUNS})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
