"""Run every benchmark and print one Markdown table (also written to ``bench/RESULTS.md``).

python -m bench            # or: make bench
UNITS_BENCH_LOAD=full python -m bench   # the load section at full size (bench/load.py)
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from datetime import date
from pathlib import Path

# Before any handler import: no X-Ray daemon or EMF metrics here, and app logs at WARNING so
# both sides of the API comparison skip the same INFO line.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
warnings.simplefilter("ignore")

from bench import (  # noqa: E402
    api,
    aws_calls,
    calls,
    cost,
    dev_stack,
    dialect,
    durable_sdk,
    http_client,
    init,
    load,
    loops,
    processes,
    workflows,
)
from bench.timing import Figure  # noqa: E402

SECTIONS = [
    ("Function calls", calls.run),
    ("Typed Lua (the dialect)", dialect.run),
    ("HTTP API", api.run),
    ("HTTP client (http_client)", http_client.run),
    ("SQL (sql)", lambda: __import__("bench.sql", fromlist=["run"]).run()),
    ("Lambda init", init.run),
    ("AWS API calls", aws_calls.run),
    ("Processes", processes.run),
    # Issue 15's goals: loop-style processes beside handler-style actors (bench/loops.py).
    ("Loop-style processes", loops.run),
    ("Workflows", workflows.run),
    # The default size (a few minutes); UNITS_BENCH_LOAD=full for issue 7's 100,000 messages,
    # 10,000 actors and 1,000 workflows (bench/load.py).
    ("Load (processes and workflows together)", load.run),
    # Dollars per unit at list prices, from the counts of the load run above (bench/cost.py).
    ("Cost per million units", cost.run),
    ("Durable SDK side by side", durable_sdk.run),
    ("Dev stack (units dev)", dev_stack.run),
]


def _format(figure: Figure) -> str:
    value = f"{figure.value:.2f}" if figure.value < 100 else f"{figure.value:.0f}"
    return f"| {figure.name} | {value} {figure.unit} | {figure.note} |"


def main() -> None:
    lines = [
        f"Measured {date.today()} on {platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores.",
        "",
        "| measure | value | note |",
        "|---|---|---|",
    ]
    for title, run in SECTIONS:
        print(f"running {title}...", file=sys.stderr)
        lines.append(f"| **{title}** | | |")
        lines.extend(_format(figure) for figure in run())
    table = "\n".join(lines)
    print(table)
    (Path(__file__).resolve().parent / "RESULTS.md").write_text(table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
