"""How much of the Wippy runtime's own Lua test suite passes on the kit.

The Wippy runtime (github.com/wippyai/runtime) keeps its Lua conformance tests as an app:
``tests/app/src``, whose ``function.lua`` entries with ``meta.type: test`` each return true or
fail. Given a checkout of that repository, this loads a copy of the app into the harness and
calls every test of the chosen suites, then prints, per suite, what passed, what failed (with
the first line of the error) and what needs a module the kit does not provide. The kit carries
none of those tests: they are Wippy's, and this reads them from the checkout you name.

python -m bench.wippy_conformance PATH_TO_WIPPY_RUNTIME [SUITE ...] [--verbose]

With no suite, the suites of the modules this kit provides are run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import warnings
from collections import defaultdict
from pathlib import Path

from runtime import manifest
from runtime.errors import UnitError
from runtime.modules import unavailable_modules
from runtime.testing import LocalCloud

#: Suites whose modules the kit has (the others need issue 16's modules, and worse).
DEFAULT_SUITES = (
    "base64",
    "channel",
    "ctx",
    "env",
    "errors",
    "funcs",
    "json",
    "logger",
    "os",
    "payload",
    "process",
    "time",
    "types",
    "uuid",
    "http",
)


def tests_of(registry: manifest.Registry, suites: set[str] | None) -> list[manifest.Entry]:
    found = []
    for entry in registry:
        meta = entry.meta or {}
        if entry.kind != "function.lua" or meta.get("type") != "test":
            continue
        suite = str(meta.get("suite") or entry.namespace.split(".")[-1])
        if suites is None or suite in suites:
            found.append(entry)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runtime", type=Path, help="a checkout of github.com/wippyai/runtime")
    parser.add_argument("suites", nargs="*", help="suites to run (default: the kit's modules)")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every failure")
    args = parser.parse_args(argv)
    source = args.runtime / "tests" / "app" / "src"
    if not source.is_dir():
        parser.error(f"{source} is not there: give the root of a wippyai/runtime checkout")
    suites = set(args.suites) if args.suites else set(DEFAULT_SUITES)
    missing = unavailable_modules()
    results: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "app"
        shutil.copytree(source, app)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cloud = LocalCloud(app)
            cloud.__enter__()
        try:
            for entry in tests_of(cloud.registry, suites):
                suite = str((entry.meta or {}).get("suite") or entry.namespace)
                lacking = sorted(set(getattr(entry, "modules", ())) & missing)
                if lacking:
                    results[suite]["needs a module"].append(f"{entry.id} ({', '.join(lacking)})")
                    continue
                try:
                    value = cloud.call(entry.id)
                except UnitError as exc:
                    first = exc.message.splitlines()[0] if exc.message else exc.kind
                    results[suite]["fail"].append(f"{entry.id}: {first[:200]}")
                    continue
                except Exception as exc:  # the harness itself: report, go on
                    results[suite]["fail"].append(f"{entry.id}: {type(exc).__name__}: {exc}")
                    continue
                # A test returns true, or a table saying {success = true}; nothing else.
                passed = value is True or (isinstance(value, dict) and value.get("success") is True)
                outcome = "pass" if passed else "fail"
                detail = entry.id if outcome == "pass" else f"{entry.id}: returned {value!r}"
                results[suite][outcome].append(detail)
        finally:
            cloud.__exit__(None, None, None)
    total = defaultdict(int)
    print("| suite | pass | fail | needs a module |\n|---|---|---|---|")
    for suite in sorted(results):
        counts = {k: len(v) for k, v in results[suite].items()}
        for k, n in counts.items():
            total[k] += n
        print(
            f"| {suite} | {counts.get('pass', 0)} | {counts.get('fail', 0)} | "
            f"{counts.get('needs a module', 0)} |"
        )
    print(
        f"| **all** | {total['pass']} | {total['fail']} | {total['needs a module']} |",
    )
    for suite in sorted(results):
        failures = results[suite].get("fail", [])
        if failures and args.verbose:
            print(f"\n{suite}:", file=sys.stderr)
            for line in failures:
                print(f"  {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
