"""``sql``: an indexed lookup through a function, against the same query made with the driver
from Python (rows as dicts keyed by column name, what the module hands to Lua), per query.

SQLite is a file database in a temporary folder; PostgreSQL is a throwaway local server
(tests/postgres.py) when PostgreSQL is installed, else its figures are left out.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from bench.timing import Figure, side_by_side
from runtime import manifest
from runtime.engine import Engine

LOOP = 200
ROWS = 10_000
_INDEX = """
version: "1.0"
namespace: bench
entries:
  - name: lite
    kind: db.sql.sqlite
    file: "${{env:BENCH_DIR}}/bench.db"
{pg}
  - name: loop
    kind: function.lua
    source: file://loop.lua
    method: handler
    modules: [sql]
"""
_PG = """
  - name: pg
    kind: db.sql.postgres
    host: {host}
    port: {port}
    database: {database}
    username: {user}
"""
_LOOP = """
local sql = require("sql")
return { handler = function(id, query, n)
  local db = sql.get(id)
  local rows
  for i = 1, n do
    local err
    rows, err = db:query(query, { i % 1000 })
    if err then error(err) end
  end
  return #rows
end }
"""
_QUERY = "SELECT id, name, score FROM items WHERE id = {m}"


def _python_sqlite(path: Path) -> Any:
    conn = sqlite3.connect(path, isolation_level=None)
    counter = iter(range(10**9))

    def once() -> Any:
        cur = conn.execute(_QUERY.format(m="?"), (next(counter) % 1000,))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    return once, conn


def _python_pg(dsn: str) -> Any:
    import psycopg

    conn = psycopg.connect(dsn, autocommit=True)
    counter = iter(range(10**9))

    def once() -> Any:
        cur = conn.execute(_QUERY.format(m="%s"), (next(counter) % 1000,))
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    return once, conn


def _figures(label: str, results: dict[str, float]) -> list[Figure]:
    python, kit = results["python"] / LOOP, results["kit"] / LOOP
    return [
        Figure(f"{label}: indexed lookup from Python (driver, rows as dicts)", python, "µs"),
        Figure(f"{label}: db:query in a function (a loop of queries)", kit, "µs"),
        Figure("  ratio to the driver from Python", kit / python, "x", "goal: at most 1.2x"),
    ]


def run() -> list[Figure]:
    from tests.postgres import postgres_server

    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = sqlite3.connect(folder / "bench.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, score REAL)")
        db.executemany(
            "INSERT INTO items VALUES (?, ?, ?)", ((i, f"item {i}", i * 0.5) for i in range(ROWS))
        )
        db.close()
        try:
            server_cm = postgres_server()
            pg = server_cm.__enter__()
        except RuntimeError:
            server_cm, pg = None, None
        try:
            pg_entry = _PG.format(**pg.__dict__) if pg else ""
            (folder / "_index.yaml").write_text(_INDEX.format(pg=pg_entry), encoding="utf-8")
            (folder / "loop.lua").write_text(_LOOP, encoding="utf-8")
            engine = Engine(manifest.load_app(folder), environ={"BENCH_DIR": tmp})
            try:
                once, conn = _python_sqlite(folder / "bench.db")
                query = _QUERY.format(m="?")
                results = side_by_side(
                    {
                        "python": lambda: [once() for _ in range(LOOP)],
                        "kit": lambda: engine.call("bench:loop", ["bench:lite", query, LOOP]),
                    },
                    calls=5,
                )
                conn.close()
                figures += _figures("SQLite", results)
                if pg is not None:
                    import psycopg

                    with psycopg.connect(pg.dsn, autocommit=True) as c:
                        c.execute("CREATE TABLE items (id INT PRIMARY KEY, name TEXT, score REAL)")
                        c.execute(
                            "INSERT INTO items SELECT g, 'item ' || g, g * 0.5 "
                            f"FROM generate_series(0, {ROWS - 1}) g"
                        )
                    once, conn = _python_pg(pg.dsn)
                    query = _QUERY.format(m="$1")
                    results = side_by_side(
                        {
                            "python": lambda: [once() for _ in range(LOOP)],
                            "kit": lambda: engine.call("bench:loop", ["bench:pg", query, LOOP]),
                        },
                        calls=5,
                    )
                    conn.close()
                    figures += _figures("PostgreSQL (local server)", results)
            finally:
                engine.close()
        finally:
            if server_cm is not None:
                server_cm.__exit__(None, None, None)
    return figures


if __name__ == "__main__":
    from bench.timing import print_figures

    print_figures(run())
