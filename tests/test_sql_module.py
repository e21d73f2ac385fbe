"""``sql`` (Wippy's ``en/lua/storage/sql.md``) against real databases: SQLite files and
``:memory:`` through the standard library, and a real PostgreSQL server (tests/postgres.py).
Every method, the type mapping, transactions (a failed one rolled back, one left open rolled
back at the end of the call), prepared statements, the query builder, and the bad inputs
with their error kinds and text (syntax error, constraint violation, refused connection,
bad DSN, unknown entry, workflow code)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runtime import manifest
from runtime.engine import Engine
from runtime.errors import UnitError
from runtime.sql_db import pg_placeholders, read_password_secret
from tests.conftest import write_app

RUN = r"""
local sql = require("sql")
local function E(err)
  if err == nil then return nil end
  return { kind = err:kind(), message = err:message(), retryable = err:retryable() }
end
local T = {}

function T.exec(id, statement, params)
  local db, err = sql.get(id)
  if err then return { err = E(err) } end
  local r, err = db:execute(statement, params)
  return { r = r, err = E(err) }
end

function T.query(id, statement, params)
  local db, err = sql.get(id)
  if err then return { err = E(err) } end
  local rows, err = db:query(statement, params)
  return { rows = rows, err = E(err) }
end

function T.script(id, statements)
  local db = sql.get(id)
  for _, s in ipairs(statements) do
    local _, err = db:execute(s)
    if err then error(err) end
  end
  return true
end

-- The same SQL whose columns change, beside others: each result keyed by its own columns.
function T.shapes(id)
  local db = sql.get(id)
  db:execute("DROP TABLE IF EXISTS shape")
  db:execute("CREATE TABLE shape (a INTEGER)")
  db:execute("INSERT INTO shape VALUES (1)")
  local out = {}
  out[1] = db:query("SELECT * FROM shape")
  out[2] = db:query("SELECT a AS b FROM shape")
  db:execute("ALTER TABLE shape ADD COLUMN c TEXT DEFAULT 'x'")
  out[3] = db:query("SELECT * FROM shape")
  out[4] = db:query("SELECT * FROM shape WHERE a = ? AND c = ?", { 1, "x" })
  out[5] = db:query("SELECT a AS b FROM shape")
  local many = {}
  for i = 1, 20 do many[i] = i end
  out[6] = db:query("SELECT " .. string.rep("? + ", 19) .. "? AS total", many)
  out[7] = db:query("SELECT ? AS t, ? AS f, ? AS s", { true, 1.5, "ö" })
  return out
end

-- TEXT that is not UTF-8 comes back as the bytes stored.
function T.raw_text(id)
  local db = sql.get(id)
  local rows, err = db:query("SELECT CAST(X'FF61' AS TEXT) AS s, typeof(CAST(X'FF61' AS TEXT)) AS t")
  if err then error(err) end
  return { len = #rows[1].s, first = rows[1].s:byte(1), t = rows[1].t }
end

function T.typed(id)
  local db = sql.get(id)
  db:execute("DELETE FROM t")
  local r = db:execute("INSERT INTO t (i, f, s, b) VALUES (?, ?, ?, ?)",
    { sql.as.int("42"), sql.as.float("2.5"), sql.as.text(7), sql.as.binary("\0\1") })
  local r2 = db:execute("INSERT INTO t (i, s) VALUES (?, ?)", { 1, sql.NULL })
  local rows = db:query("SELECT i, f, s, b, typeof(s) AS ts FROM t ORDER BY rowid")
  return { rows = rows, r = r, r2 = r2, type = db:type() }
end

function T.tx(id, fail)
  local db = sql.get(id)
  local pg = db:type() == "postgres"
  local m1, m2 = pg and "$1" or "?", pg and "$2" or "?"
  local tx, err = db:begin({ isolation = sql.isolation.SERIALIZABLE })
  if err then return { err = E(err) } end
  assert(tx:execute("INSERT INTO acct (name, n) VALUES (" .. m1 .. ", " .. m2 .. ")", { "a", 1 }))
  local _, err = tx:execute(fail and ("INSERT INTO acct (name, n) VALUES (" .. m1 .. ", " .. m2 .. ")")
    or ("UPDATE acct SET n = n + 1 WHERE name = " .. m1), fail and { "a", 2 } or { "a" })
  if err then
    local ok = tx:rollback()
    local _, again = tx:commit()
    return { err = E(err), rolled = ok, again = E(again), type = tx:db_type() }
  end
  return { committed = tx:commit() }
end

function T.savepoints(id)
  local db = sql.get(id)
  local tx = db:begin()
  tx:execute("INSERT INTO acct (name, n) VALUES ('sp', 1)")
  assert(tx:savepoint("sp1"))
  tx:execute("UPDATE acct SET n = 99 WHERE name = 'sp'")
  assert(tx:rollback_to("sp1"))
  assert(tx:savepoint("sp2"))
  assert(tx:release("sp2"))
  local _, bad = tx:savepoint("no; DROP TABLE acct")
  tx:commit()
  return { rows = db:query("SELECT n FROM acct WHERE name = 'sp'"), bad = E(bad) }
end

function T.left_open(id)
  local db = sql.get(id)
  local tx = db:begin()
  tx:execute("INSERT INTO acct (name, n) VALUES ('open', 1)")
  return true
end

function T.busy(id)
  local db = sql.get(id)
  local tx = db:begin()
  local _, err = db:query("SELECT 1")
  tx:rollback()
  return E(err)
end

function T.prepared(id, statement, insert)
  local db = sql.get(id)
  local bad, perr = db:prepare("SELEC nonsense")
  local ins = assert(db:prepare(insert))
  for i = 1, 3 do assert(ins:execute({ "p" .. i, i })) end
  assert(ins:close())
  local _, closed = ins:execute({ "x", 1 })
  local q = assert(db:prepare(statement))
  local rows = q:query({ 2 })
  return { bad = bad == nil, perr = E(perr), rows = rows, closed = E(closed) }
end

function T.builder(id, dollar)
  local b = sql.builder
  local q = b.select("name", "n"):from("acct")
    :where(b.and_({ b.gte({ n = 2 }), b.like({ name = "p%" }) }))
    :order_by("n DESC"):limit(5)
  if dollar then q = q:placeholder_format(b.dollar) end
  local text, args = q:to_sql()
  local db = sql.get(id)
  local rows, err = q:run_with(db):query()
  local ins = b.insert("acct"):columns("name", "n"):values("built", 7)
  if dollar then ins = ins:placeholder_format(b.dollar) end
  local r = ins:run_with(db):exec()
  local up = b.update("acct"):set("n", 8):where({ name = "built" })
  if dollar then up = up:placeholder_format(b.dollar) end
  local r2 = up:run_with(db):exec()
  local del = b.delete("acct"):where({ name = "built" })
  if dollar then del = del:placeholder_format(b.dollar) end
  local dtext = del:to_sql()
  local r3 = del:run_with(db):exec()
  local _, berr = b.select():from("x"):to_sql()
  return { text = text, args = args, rows = rows, err = E(err), ins = r.rows_affected,
           up = r2.rows_affected, del = r3.rows_affected, dtext = dtext, berr = E(berr) }
end

function T.misc(id)
  local db = sql.get(id)
  local st = db:stats()
  assert(db:release())
  local _, err = db:query("SELECT 1")
  local _, e2 = sql.get("")
  local ok, e3 = pcall(function() return db.query("SELECT 1") end)
  return { stats = st, released = E(err), empty = E(e2), dot = tostring(e3),
           consts = { sql.type.POSTGRES, sql.type.SQLITE, sql.isolation.READ_COMMITTED } }
end

function T.bad_param(id)
  local db = sql.get(id)
  local _, err = db:query("SELECT ?", { {} })
  return E(err)
end

function T.parallel(id)
  local db = sql.get(id)
  local ch = channel.new(2)
  for i = 1, 2 do
    coroutine.spawn(function()
      local rows = db:query("SELECT pg_sleep(0.2), $1::int AS i", { i })
      ch:send(rows[1].i)
    end)
  end
  local a = ch:receive()
  local b = ch:receive()
  return { a, b }
end

function T.call_wf_helper()
  local db = sql.get("app:lite")
  return db:query("SELECT 7 AS seven")[1].seven
end

return { handler = function(op, ...) return T[op](...) end }
"""

WF = r"""
local sql = require("sql")
local funcs = require("funcs")
local function main()
  local db, err = sql.get("app:lite")
  local via = funcs.call("app:run", "call_wf_helper")
  return { db = db == nil, kind = err and err:kind(), message = err and err:message(), via = via }
end
return main
"""


def index(extra: str = "") -> str:
    return f"""
version: "1.0"
namespace: app
entries:
  - name: lite
    kind: db.sql.sqlite
    file: "${{env:DB_DIR}}/app.db"
  - name: mem
    kind: db.sql.sqlite
    file: ":memory:"
  - name: cache
    kind: store.memory
  - name: run
    kind: function.lua
    source: file://run.lua
    method: handler
    modules: [sql]
  - name: flows
    kind: workflow.host
  - name: wf
    kind: workflow.lua
    source: file://wf.lua
    modules: [sql, funcs]
{extra}
"""


def pg_entries(pg: Any) -> str:
    return f"""
  - name: pg
    kind: db.sql.postgres
    host: {pg.host}
    port: {pg.port}
    database: {pg.database}
    username: {pg.user}
    password: "${{env:PG_PASSWORD}}"
    pool:
      max_open: 4
    options:
      application_name: units-tests
  - name: refused
    kind: db.sql.postgres
    host: 127.0.0.1
    port: 1
    database: nothing
    username: nobody
  - name: nodb
    kind: db.sql.postgres
    host: {pg.host}
    port: {pg.port}
    database: no_such_database
    username: {pg.user}
  - name: badopt
    kind: db.sql.postgres
    host: {pg.host}
    port: {pg.port}
    database: {pg.database}
    username: {pg.user}
    options:
      no_such_option: "1"
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, postgres: Any) -> Iterator[Engine]:
    folder = tmp_path_factory.mktemp("sql")
    root = write_app(folder / "app", index(pg_entries(postgres)), {"run.lua": RUN, "wf.lua": WF})
    environ = {"DB_DIR": str(folder), "PG_PASSWORD": "unused-with-trust"}
    eng = Engine(manifest.load_app(root), environ=environ)
    yield eng
    eng.close()


def call(engine: Engine, *args: Any) -> Any:
    return engine.call("app:run", list(args))


SQLITE_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS t (i INTEGER, f REAL, s TEXT, b BLOB)",
    "CREATE TABLE IF NOT EXISTS acct (name TEXT PRIMARY KEY, n INTEGER NOT NULL)",
]
PG_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS acct (name TEXT PRIMARY KEY, n INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS kinds (b BOOLEAN, d NUMERIC(10,2), ts TIMESTAMPTZ, "
    "j JSONB, a INT[], by BYTEA, u UUID)",
]


@pytest.fixture(params=["lite", "pg"])
def db(request: pytest.FixtureRequest, engine: Engine) -> str:
    name = request.param
    call(engine, "script", f"app:{name}", SQLITE_SCHEMA if name == "lite" else PG_SCHEMA)
    call(engine, "exec", f"app:{name}", "DELETE FROM acct")
    return f"app:{name}"


def mark(db: str, n: int = 1) -> str:
    return "?" if db == "app:lite" else f"${n}"


# -- query / execute and the type mapping -------------------------------------------------


def test_execute_and_query_bind_parameters(engine: Engine, db: str) -> None:
    ins = f"INSERT INTO acct (name, n) VALUES ({mark(db, 1)}, {mark(db, 2)})"
    r = call(engine, "exec", db, ins, ["alice", 3])
    assert r.get("err") is None and r["r"]["rows_affected"] == 1
    # A quote in a value is data, never SQL.
    call(engine, "exec", db, ins, ["o'brien; DROP TABLE acct", 4])
    out = call(
        engine, "query", db, f"SELECT name, n FROM acct WHERE n >= {mark(db)} ORDER BY n", [3]
    )
    assert out["rows"] == [{"name": "alice", "n": 3}, {"name": "o'brien; DROP TABLE acct", "n": 4}]


def test_small_and_large_results_have_the_same_rows(engine: Engine, db: str) -> None:
    # A small result crosses as multiple values, a large one as a table: rows alike.
    series = (
        "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {n}) "
        "SELECT x, NULL AS gone, 'v' || x AS x2 FROM s"
        if db == "app:lite"
        else "SELECT x, NULL AS gone, 'v' || x AS x2 FROM generate_series(1, {n}) x"
    )
    for n in (2, 400):
        rows = call(engine, "query", db, series.format(n=n), [])["rows"]
        assert rows == [{"x": i, "x2": f"v{i}"} for i in range(1, n + 1)]
    # A repeated column name: the last non-NULL value is the field's, a NULL leaves it.
    rows = call(engine, "query", db, "SELECT 1 AS a, NULL AS a, 2 AS b, 3 AS b", [])["rows"]
    assert rows == [{"a": 1, "b": 3}]


def test_sqlite_results_keyed_by_their_own_columns(engine: Engine) -> None:
    # Column names cross once per shape: a change of columns under the same SQL, shapes
    # alternating, and many or non-number parameters all come back keyed right, call after call.
    expected = [
        [{"a": 1}],
        [{"b": 1}],
        [{"a": 1, "c": "x"}],
        [{"a": 1, "c": "x"}],
        [{"b": 1}],
        [{"total": 210}],
        [{"t": 1, "f": 1.5, "s": "ö"}],
    ]
    assert call(engine, "shapes", "app:lite") == expected
    assert call(engine, "shapes", "app:lite") == expected


def test_sqlite_text_that_is_not_utf8_comes_back_as_stored(engine: Engine) -> None:
    assert call(engine, "raw_text", "app:lite") == {"len": 2, "first": 0xFF, "t": "text"}


def test_sqlite_types_and_typed_parameters(engine: Engine) -> None:
    call(engine, "script", "app:lite", SQLITE_SCHEMA)
    out = call(engine, "typed", "app:lite")
    assert out["type"] == "sqlite"
    assert (
        out["r"]["rows_affected"] == 1
        and out["r2"]["last_insert_id"] == out["r"]["last_insert_id"] + 1
    )
    first, second = out["rows"]
    assert first == {"i": 42, "f": 2.5, "s": "7", "b": "\x00\x01", "ts": "text"}
    assert second == {"i": 1, "ts": "null"}  # NULL columns are absent


def test_postgres_types(engine: Engine) -> None:
    call(engine, "script", "app:pg", PG_SCHEMA)
    call(engine, "exec", "app:pg", "DELETE FROM kinds")
    r = call(
        engine,
        "exec",
        "app:pg",
        "INSERT INTO kinds VALUES ($1, $2, '2024-05-06T07:08:09Z', $3::jsonb, ARRAY[1,2], "
        "'\\x0001', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')",
        [True, "12.50", '{"a": 1}'],
    )
    assert r.get("err") is None and r["r"] == {"last_insert_id": 0, "rows_affected": 1}
    row = call(engine, "query", "app:pg", "SELECT *, 100 % 7 AS pct FROM kinds")["rows"][0]
    assert row == {
        "b": True,
        "d": "12.50",
        "ts": "2024-05-06T07:08:09Z",
        "j": '{"a":1}',
        "a": [1, 2],
        "by": "\x00\x01",
        "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "pct": 2,
    }


def test_pg_placeholders_skip_strings_comments_and_dollar_quotes() -> None:
    text, args = pg_placeholders(
        "SELECT '$1 %', \"$2\", $$ $1 $$, $t$ $2 $t$ -- $1\n /* $2 */ FROM x WHERE a = $2 AND b = $1 "
        "AND c = $2",
        ["one", "two"],
    )
    assert text == (
        "SELECT '$1 %%', \"$2\", $$ $1 $$, $t$ $2 $t$ -- $1\n /* $2 */ FROM x WHERE a = %s AND "
        "b = %s AND c = %s"
    )
    assert args == ["two", "one", "two"]
    with pytest.raises(UnitError, match=r"uses \$3 but 2 parameters were given"):
        pg_placeholders("SELECT $3", [1, 2])
    with pytest.raises(UnitError, match=r"does not use \$2"):
        pg_placeholders("SELECT $1", [1, 2])


# -- errors: each with its kind and a message naming what failed --------------------------


def test_syntax_error_is_invalid(engine: Engine, db: str) -> None:
    err = call(engine, "query", db, "SELEC 1", [])["err"]
    assert err["kind"] == "Invalid" and "sql query" in err["message"]
    assert "syntax error" in err["message"]
    if db == "app:pg":
        assert "SQLSTATE 42601" in err["message"]


def test_constraint_violations(engine: Engine, db: str) -> None:
    ins = f"INSERT INTO acct (name, n) VALUES ({mark(db, 1)}, {mark(db, 2)})"
    assert call(engine, "exec", db, ins, ["dup", 1]).get("err") is None
    err = call(engine, "exec", db, ins, ["dup", 2])["err"]
    assert err["kind"] == "AlreadyExists" and "sql execute" in err["message"]
    assert ("UNIQUE constraint failed: acct.name" in err["message"]) or (
        "acct_pkey" in err["message"] and "23505" in err["message"]
    )
    null = call(engine, "exec", db, "INSERT INTO acct (name, n) VALUES ('nulln', NULL)", [])["err"]
    assert null["kind"] == "Invalid" and (
        "NOT NULL" in null["message"] or "23502" in null["message"]
    )


def test_refused_connection_is_unavailable(engine: Engine) -> None:
    err = call(engine, "query", "app:refused", "SELECT 1", [])["err"]
    assert err["kind"] == "Unavailable" and err["retryable"] is True
    assert "sql 'app:refused': cannot connect" in err["message"]
    assert "127.0.0.1" in err["message"] and "refused" in err["message"].lower()


def test_bad_dsn_names_what_failed(engine: Engine) -> None:
    err = call(engine, "query", "app:nodb", "SELECT 1", [])["err"]
    assert err["kind"] == "Invalid" and "cannot connect" in err["message"]
    assert 'database "no_such_database" does not exist' in err["message"]
    err = call(engine, "query", "app:badopt", "SELECT 1", [])["err"]
    assert err["kind"] in ("Invalid", "Unavailable") and "no_such_option" in err["message"]


def test_unknown_and_wrong_entries(engine: Engine) -> None:
    err = call(engine, "query", "app:nope", "SELECT 1", [])["err"]
    assert err["kind"] == "NotFound"
    assert err["message"] == "sql.get: no database entry 'app:nope'"
    err = call(engine, "query", "app:cache", "SELECT 1", [])["err"]
    assert (
        err["kind"] == "Invalid"
        and "'app:cache' is a store.memory, not a database" in err["message"]
    )


def test_a_table_cannot_be_bound(engine: Engine, db: str) -> None:
    err = call(engine, "bad_param", db)
    assert err["kind"] == "Invalid" and err["message"] == "params[1]: a table cannot be bound"


# -- transactions --------------------------------------------------------------------------


def test_transaction_commits(engine: Engine, db: str) -> None:
    assert call(engine, "tx", db, False) == {"committed": True}
    rows = call(engine, "query", db, "SELECT n FROM acct WHERE name = 'a'", [])["rows"]
    assert rows == [{"n": 2}]


def test_failed_transaction_rolls_back(engine: Engine, db: str) -> None:
    out = call(engine, "tx", db, True)
    assert out["err"]["kind"] == "AlreadyExists" and out["rolled"] is True
    assert out["again"]["message"] == "sql: transaction is not active"
    assert out["type"] == ("sqlite" if db == "app:lite" else "postgres")
    assert call(engine, "query", db, "SELECT * FROM acct", [])["rows"] in ([], {})


def test_transaction_left_open_is_rolled_back_at_the_end_of_the_call(
    engine: Engine, db: str
) -> None:
    assert call(engine, "left_open", db) is True
    assert call(engine, "query", db, "SELECT * FROM acct WHERE name = 'open'", [])["rows"] in (
        [],
        {},
    )


def test_savepoints(engine: Engine, db: str) -> None:
    out = call(engine, "savepoints", db)
    assert out["rows"] == [{"n": 1}]
    assert out["bad"]["kind"] == "Invalid" and "invalid savepoint name" in out["bad"]["message"]


def test_sqlite_connection_held_by_a_transaction(engine: Engine) -> None:
    call(engine, "script", "app:lite", SQLITE_SCHEMA)
    err = call(engine, "busy", "app:lite")
    assert err["kind"] == "Invalid" and "held by an open transaction" in err["message"]


def test_postgres_runs_coroutines_concurrently_and_reuses_connections(engine: Engine) -> None:
    import time

    started = time.perf_counter()
    assert sorted(call(engine, "parallel", "app:pg")) == [1, 2]
    assert time.perf_counter() - started < 0.39  # two 0.2 s queries side by side
    pid = "SELECT pg_backend_pid() AS pid"
    pids = {call(engine, "query", "app:pg", pid, [])["rows"][0]["pid"] for _ in range(3)}
    assert len(pids) == 1  # one connection kept for the container, reused


# -- prepared statements, builder, misc ------------------------------------------------------


def test_prepared_statements(engine: Engine, db: str) -> None:
    q = f"SELECT name FROM acct WHERE n = {mark(db)}"
    ins = f"INSERT INTO acct (name, n) VALUES ({mark(db, 1)}, {mark(db, 2)})"
    out = call(engine, "prepared", db, q, ins)
    assert out["bad"] is True and out["perr"]["kind"] == "Invalid"
    assert "sql prepare" in out["perr"]["message"] and "syntax error" in out["perr"]["message"]
    assert out["rows"] == [{"name": "p2"}]
    assert out["closed"]["message"] == "statement is closed"


def test_builder(engine: Engine, db: str) -> None:
    call(
        engine, "exec", db, "INSERT INTO acct (name, n) VALUES ('p1', 1), ('p2', 2), ('p3', 3)", []
    )
    out = call(engine, "builder", db, db == "app:pg")
    m1, m2 = mark(db, 1), mark(db, 2)
    assert out["text"] == (
        f"SELECT name, n FROM acct WHERE ((n >= {m1}) AND (name LIKE {m2})) ORDER BY n DESC LIMIT 5"
    )
    assert out["args"] == [2, "p%"] and out.get("err") is None
    assert out["rows"] == [{"name": "p3", "n": 3}, {"name": "p2", "n": 2}]
    assert (out["ins"], out["up"], out["del"]) == (1, 1, 1)
    assert out["dtext"] == f"DELETE FROM acct WHERE name = {m1}"
    assert (
        out["berr"]["kind"] == "Invalid" and "at least one result column" in out["berr"]["message"]
    )


def test_stats_release_and_constants(engine: Engine, db: str) -> None:
    out = call(engine, "misc", db)
    assert out["stats"]["max_open_connections"] == (1 if db == "app:lite" else 4)
    assert out["stats"]["open_connections"] >= 1 and out["stats"]["in_use"] == 0
    assert out["released"]["message"] == "database is released"
    assert (
        out["empty"]["kind"] == "Invalid" and out["empty"]["message"] == "resource id is required"
    )
    assert "call it on a db, with ':'" in out["dot"]
    assert out["consts"] == ["postgres", "sqlite", "read_committed"]


def test_sqlite_file_needs_its_env_variable(tmp_path: Path) -> None:
    root = write_app(tmp_path / "app", index(), {"run.lua": RUN, "wf.lua": WF})
    eng = Engine(manifest.load_app(root), environ={})
    try:
        err = call(eng, "query", "app:lite", "SELECT 1", [])["err"]
    finally:
        eng.close()
    assert err["kind"] == "Invalid"
    assert err["message"] == (
        "sql 'app:lite': field 'file' needs the environment variable DB_DIR, which is not set"
    )


def test_sqlite_file_persists_and_memory_is_per_engine(engine: Engine, tmp_path: Path) -> None:
    call(
        engine,
        "script",
        "app:mem",
        ["CREATE TABLE IF NOT EXISTS m (x)", "INSERT INTO m VALUES (1)"],
    )
    assert call(engine, "query", "app:mem", "SELECT count(*) AS c FROM m", [])["rows"] == [{"c": 1}]
    call(engine, "script", "app:lite", SQLITE_SCHEMA)
    path = Path(engine.environ["DB_DIR"]) / "app.db"
    assert path.exists()


# -- secrets ---------------------------------------------------------------------------------


def test_password_from_secrets_manager_and_ssm(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        arn = sm.create_secret(Name="db", SecretString='{"username": "u", "password": "s3cret"}')[
            "ARN"
        ]
        plain = sm.create_secret(Name="plain", SecretString="plainpw")["ARN"]
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name="/db/pw", Value="ssmpw", Type="SecureString")
        base = {
            "id": "app:pg",
            "namespace": "app",
            "name": "pg",
            "file": "_index.yaml",
            "kind": "db.sql.postgres",
        }
        assert read_password_secret(manifest.SqlEntry(**base, password_secret=arn)) == "s3cret"
        assert read_password_secret(manifest.SqlEntry(**base, password_secret=plain)) == "plainpw"
        param = "arn:aws:ssm:us-east-1:123456789012:parameter/db/pw"
        assert read_password_secret(manifest.SqlEntry(**base, password_parameter=param)) == "ssmpw"
        missing = arn.replace("db-", "gone-")
        with pytest.raises(UnitError) as info:
            read_password_secret(manifest.SqlEntry(**base, password_secret=missing))
        assert info.value.kind == "Invalid"
        assert "cannot read the password from" in info.value.message
        assert "ResourceNotFoundException" in info.value.message


# -- workflow code ---------------------------------------------------------------------------


def test_workflow_code_is_refused(tmp_path: Path) -> None:
    from runtime.testing import LocalCloud

    root = write_app(tmp_path / "app", index(), {"run.lua": RUN, "wf.lua": WF})
    with LocalCloud(root, environ={"DB_DIR": str(tmp_path)}) as cloud:
        run_id = cloud.start_workflow("app:wf")
        cloud.run_workflows()
        result = cloud.result(run_id)
    assert result.status == "completed", result
    out = result.result
    assert out["db"] is True and out["kind"] == "Invalid"
    assert "call a function (an activity)" in out["message"]
    assert out["via"] == 7


# -- the entries: fields checked at load, errors naming file, entry and field -----------------


@pytest.mark.parametrize(
    ("entry", "text"),
    [
        (
            "{name: db, kind: db.sql.mysql, host: h, database: d}",
            "_index.yaml: entry 'app:db': db.sql.mysql is not supported by this kit: the "
            "maintained Python MySQL drivers interpolate parameters",
        ),
        (
            "{name: db, kind: db.sql.sqlite}",
            "_index.yaml: entry 'app:db' field 'file': missing (required for db.sql.sqlite",
        ),
        (
            "{name: db, kind: db.sql.postgres, host: h}",
            "_index.yaml: entry 'app:db' field 'database': missing (required for db.sql.postgres)",
        ),
        (
            "{name: db, kind: db.sql.postgres, database: d, password_secret: mysecret}",
            "_index.yaml: entry 'app:db' field 'password_secret': invalid value 'mysecret' "
            "(expected a Secrets Manager secret ARN",
        ),
        (
            "{name: db, kind: db.sql.postgres, database: d, password_parameter: /x}",
            "_index.yaml: entry 'app:db' field 'password_parameter': invalid value '/x' "
            "(expected an SSM parameter ARN",
        ),
        (
            "{name: db, kind: db.sql.postgres, database: d, port: 99999}",
            "_index.yaml: entry 'app:db' field 'port': must be between 1 and 65535, got 99999",
        ),
        (
            "{name: db, kind: db.sql.postgres, database: d, password_env: X}",
            "_index.yaml: entry 'app:db' field 'password_env': the deprecated password_env form "
            "is not supported",
        ),
        (
            "{name: db, kind: db.sql.postgres, database: d, hots: x}",
            "_index.yaml: entry 'app:db' field 'hots': unknown field for db.sql.postgres "
            "(did you mean 'host'?)",
        ),
        (
            "{name: db, kind: db.sql.postgres, database: d, pool: {max_open: -1}}",
            "_index.yaml: entry 'app:db' field 'pool.max_open': must be at least 0, got -1",
        ),
    ],
)
def test_bad_entries_fail_the_load(tmp_path: Path, entry: str, text: str) -> None:
    root = write_app(tmp_path, f'version: "1.0"\nnamespace: app\nentries:\n  - {entry}\n')
    with pytest.raises(manifest.ManifestError) as info:
        manifest.load_app(root)
    assert text in str(info.value)


def test_entries_load_with_notes_for_what_is_not_applied(tmp_path: Path) -> None:
    root = write_app(
        tmp_path,
        """
        version: "1.0"
        namespace: app
        entries:
          - name: lite
            kind: db.sql.sqlite
            file: ":memory:"
            pool: {max_open: 5, max_lifetime: 1h}
            options: {cache: shared}
          - name: pg
            kind: db.sql.postgres
            host: ${env:DB_HOST}
            port: "${env:DB_PORT}"
            database: app
            username: app
            password: ${env:DB_PASSWORD}
            pool: {max_open: 3, max_idle: 2}
            options: {sslmode: require}
        """,
    )
    registry = manifest.load_app(root)
    lite, pg = registry.get("app:lite"), registry.get("app:pg")
    assert isinstance(lite, manifest.SqlEntry) and lite.path == ":memory:"
    assert pg.max_open == 3 and pg.options == {"sslmode": "require"}
    assert pg.port == "${env:DB_PORT}"
    lines = "\n".join(registry.warnings)
    assert "entry 'app:lite' field 'pool.max_open': accepted, not used" in lines
    assert "entry 'app:lite' field 'options': accepted, not used" in lines
    assert "entry 'app:pg' field 'pool.max_idle': accepted, not applied" in lines
