"""``sql``: Wippy's SQL module (``en/lua/storage/sql.md``) over :mod:`runtime.sql_db`.

``sql.get(id)`` acquires a ``db.sql.sqlite`` or ``db.sql.postgres`` entry and returns a
handle with ``type``, ``query``, ``execute``, ``prepare``, ``begin``, ``stats`` and
``release``; statements have ``query``, ``execute``, ``close``; transactions ``db_type``,
``query``, ``execute``, ``prepare``, ``commit``, ``rollback``, ``savepoint``, ``rollback_to``
and ``release``. The constants (``sql.type``, ``sql.isolation``), ``sql.NULL`` and the typed
parameters (``sql.as.*``) are Wippy's; the query builder (``sql.builder``) is in
``runtime/lua/sql_builder.lua``.

Rows are Lua tables keyed by column name (a NULL column is absent); ``execute`` returns
``{last_insert_id = n, rows_affected = n}``. A transaction the code leaves open is rolled
back when the invocation ends, its connection given back.

SQLite calls run on the scheduler's thread (microseconds, less than a thread hand-off);
PostgreSQL calls on the engine's I/O threads (``kit.await("io")``), so other coroutines go
on meanwhile, or on the scheduler's thread when nothing else in the invocation could go on
(``Scheduler.alone``: the hand-off was most of a local query's time).
In a workflow the database is an effect and is refused: a function (an activity) must do
it.
"""

from __future__ import annotations

import itertools
from importlib import resources
from typing import TYPE_CHECKING, Any

from runtime import manifest
from runtime.errors import INTERNAL, INVALID, NOT_FOUND, UnitError
from runtime.modules import io_ops
from runtime.modules.io_ops import IoJob, submit
from runtime.sandbox import lua_text
from runtime.sql_db import (
    ISOLATION_LEVELS,
    SAVEPOINT_NAME,
    PgDatabase,
    SqliteDatabase,
    Typed,
    bind_value,
    result_value,
)

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

IN_WORKFLOW = (
    "sql: a database is outside state, an effect a workflow cannot replay; call a function "
    "(an activity) that uses the database, with funcs.call, from the workflow instead"
)
_LUA = resources.files("runtime").joinpath("lua/sql.lua").read_text(encoding="utf-8")
_ids = itertools.count(1)


class _Tx:
    """An open transaction: its database, its connection (PostgreSQL) and whether it is
    still active."""

    __slots__ = ("active", "conn", "db", "entry_id")

    def __init__(self, db: SqliteDatabase | PgDatabase, conn: Any, entry_id: str) -> None:
        self.db, self.conn, self.active, self.entry_id = db, conn, True, entry_id


class _Stmt:
    __slots__ = ("closed", "db", "sql", "tx")

    def __init__(self, db: SqliteDatabase | PgDatabase, sql: str, tx: _Tx | None) -> None:
        self.db, self.sql, self.tx, self.closed = db, sql, tx, False


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, registry = engine.state, engine.registry
    table_from = state.lua.table_from
    txs: dict[int, _Tx] = {}
    stmts: dict[int, _Stmt] = {}

    def refuse_in_workflow() -> None:
        if (why := io_ops.refusal(engine, "sql", IN_WORKFLOW)) is not None:
            raise UnitError(INVALID, why)

    # The registry and the engine's databases live as long as the engine, so an entry's
    # database is resolved once (keyed by the Lua string the handle carries).
    resolved: dict[Any, SqliteDatabase | PgDatabase] = {}

    def database(entry_id: str) -> SqliteDatabase | PgDatabase:
        entry = registry.find(entry_id)
        if not isinstance(entry, manifest.SqlEntry):
            raise UnitError(INTERNAL, f"sql: '{entry_id}' is not a database")
        return engine.sql_databases().get(entry)

    def database_of(raw_id: Any) -> SqliteDatabase | PgDatabase:
        db = resolved.get(raw_id)
        if db is None:
            db = database(lua_text(raw_id))
            if type(raw_id) is bytes:
                resolved[raw_id] = db
        return db

    def params_of(args: tuple[Any, ...]) -> list[Any]:
        # Flat (kind, value) pairs from the Lua side: kind false for a plain value.
        out = []
        for i in range(0, len(args), 2):
            kind, value = args[i], args[i + 1]
            if kind is False and type(value) in _PLAIN:
                out.append(value)  # what bind_value gives back for these as they are
            elif kind:
                out.append(bind_value(Typed(kind.decode(), value), f"params[{i // 2 + 1}]"))
            else:
                out.append(bind_value(value, f"params[{i // 2 + 1}]"))
        return out

    def rows_table(result: tuple[list[str], list[tuple[Any, ...]]]) -> tuple[Any, ...]:
        """The Lua return values of a query: a small result of plain values as ``ncols,
        nrows, 0, names..., values...`` (row by row), which ``rows`` in sql.lua makes into
        the row tables (cheaper than converting a list of dicts); any other as ``table,
        nil``. (``query_plain`` may send a shape number for the names instead of 0.)"""
        names, rows = result
        keys = [n.encode() for n in names]
        ncols = len(keys)
        if ncols * len(rows) <= _INLINE_VALUES:
            flat: list[Any] = [ncols, len(rows), 0, *keys]
            append = flat.append
            for row in rows:
                if len(row) != ncols:
                    break
                for value in row:
                    kind = type(value)
                    if kind is str:
                        append(value.encode())
                    elif kind in _SCALARS:
                        append(value)
                    else:
                        value = _lua_plain(result_value(value))
                        if type(value) is list:
                            break  # an array column: a nested table, made by table_from
                        append(value)
                else:
                    continue
                break
            else:
                return tuple(flat)
        out = []
        for row in rows:
            record = {}
            for key, value in zip(keys, row, strict=False):
                if value is None:
                    continue
                if type(value) is str:
                    record[key] = value.encode()
                elif type(value) in (int, float, bytes, bool):
                    record[key] = value
                else:
                    value = result_value(value)
                    record[key] = _lua_plain(value)
            out.append(record)
        return table_from(out, recursive=True), None

    def exec_table(result: tuple[int, int]) -> Any:
        return table_from({b"last_insert_id": result[0], b"rows_affected": result[1]})

    def io(run: Any, finish: Any) -> tuple[Any, bool]:
        def done(value: Any, exc: BaseException | None) -> tuple[Any, ...]:
            if exc is not None:
                if isinstance(exc, UnitError):
                    return None, state.error_value(exc)
                return None, state.error_value(UnitError(INTERNAL, f"sql: {exc}"))
            out = finish(value)
            return out if type(out) is tuple else (out, None)

        scheduler = engine.scheduler
        if scheduler is not None and scheduler.alone():
            # Nothing else could go on meanwhile: no I/O thread hop (most of a local
            # PostgreSQL query's time). An error is made into values as the hop's is.
            try:
                value = run()
            except Exception as exc:
                return done(None, exc)
            return done(value, None)
        return submit(engine, IoJob(run, done)), True

    def fallible(fn: Any) -> Any:
        return io_ops.fallible(state, fn)

    # -- the handle's target: a database (0) or a transaction ------------------------------
    def target(raw_id: Any, tx_id: int) -> tuple[SqliteDatabase | PgDatabase, _Tx | None]:
        refuse_in_workflow()
        if tx_id:
            tx = txs.get(tx_id)
            if tx is None or not tx.active:
                raise UnitError(INVALID, "sql: transaction is not active")
            return tx.db, tx
        return database_of(raw_id), None

    def run(
        db: SqliteDatabase | PgDatabase,
        tx: _Tx | None,
        sql: str,
        params: list[Any],
        kind: str,
        prepare: bool = False,
    ) -> Any:
        if isinstance(db, SqliteDatabase):
            if kind == "query":
                return rows_table(db.query(sql, params, tx))
            return exec_table(db.execute(sql, params, tx)), None
        runner = PgDatabase.run_query if kind == "query" else PgDatabase.run_execute
        finish = rows_table if kind == "query" else exec_table
        if tx is not None:
            conn = tx.conn
            return io(lambda: runner(conn, sql, params, prepare), finish)
        return io(lambda: db.with_conn(lambda c: runner(c, sql, params, prepare)), finish)

    # -- module ---------------------------------------------------------------------------
    def acquire(raw_id: Any) -> Any:
        refuse_in_workflow()
        entry_id = lua_text(raw_id)
        entry = registry.find(entry_id)
        if entry is None:
            skipped = registry.skipped.get(entry_id)
            why = f" ({skipped.kind}: {skipped.reason})" if skipped else ""
            raise UnitError(NOT_FOUND, f"sql.get: no database entry '{entry_id}'{why}")
        if not isinstance(entry, manifest.SqlEntry):
            raise UnitError(INVALID, f"sql.get: '{entry_id}' is a {entry.kind}, not a database")
        return entry.id.encode(), database_of(entry.id.encode()).kind.encode()

    def query(raw_id: Any, tx_id: int, raw_sql: bytes, *args: Any) -> Any:
        db, tx = target(raw_id, tx_id)
        return run(db, tx, raw_sql.decode("utf-8", "replace"), params_of(args), "query")

    # Column-name lists of SQLite results, numbered from 1 in the order first seen: the Lua
    # side keeps them, so a query whose columns it knows gets the number, not the names.
    shapes: dict[tuple[str, ...], int] = {}

    def query_plain(known: int, raw_id: Any, raw_sql: bytes, *args: Any) -> Any:
        """``db:query`` with plain parameters (numbers, strings, booleans, nils, passed as
        they are): ``query`` in one call, the per-query overhead being most of a local
        SQLite lookup's time. ``known``: shapes 1..known are held by the Lua side."""
        try:
            scheduler = engine.scheduler
            task = scheduler.current if scheduler is not None else None
            if task is not None and getattr(task.data, "replay", None) is not None:
                refuse_in_workflow()
            db = resolved.get(raw_id)
            if db is None:
                db = database_of(raw_id)
            sql = raw_sql.decode("utf-8", "replace")
            params: Any = args  # the driver binds these as they are
            for v in args:
                if type(v) not in _PLAIN:
                    params = [bind_value(v, f"params[{i}]") for i, v in enumerate(args, 1)]
                    break
            if type(db) is SqliteDatabase:
                names, rows = db.query(sql, params)
                ncols = len(names)
                if ncols * len(rows) <= _INLINE_VALUES:
                    key = tuple(names)
                    shape = shapes.get(key)
                    if shape is None and len(shapes) < _SHAPES:
                        shape = shapes[key] = len(shapes) + 1
                    if shape is not None and shape <= known:
                        flat: list[Any] = [ncols, len(rows), shape]
                    else:
                        flat = [ncols, len(rows), shape or 0]
                        flat += [n.encode() for n in names]
                    # SQLite hands back None, int, float and bytes (text as bytes): Lua's.
                    for row in rows:
                        flat += row
                    return tuple(flat)
                return rows_table((names, rows))
            return run(db, None, sql, params, "query")
        except UnitError as exc:
            return None, state.error_value(exc)

    def execute(raw_id: Any, tx_id: int, raw_sql: bytes, *args: Any) -> Any:
        db, tx = target(raw_id, tx_id)
        return run(db, tx, raw_sql.decode("utf-8", "replace"), params_of(args), "execute")

    def prepare(raw_id: Any, tx_id: int, raw_sql: bytes) -> Any:
        db, tx = target(raw_id, tx_id)
        sql = raw_sql.decode("utf-8", "replace")
        stmt_id = next(_ids)

        def made(_: Any = None) -> Any:
            stmts[stmt_id] = _Stmt(db, sql, tx)
            return stmt_id

        if isinstance(db, SqliteDatabase):
            db.prepare(sql, tx)
            return made(), None
        if tx is not None:
            conn = tx.conn
            return io(lambda: PgDatabase.check_prepare(conn, sql), made)
        return io(lambda: db.with_conn(lambda c: PgDatabase.check_prepare(c, sql)), made)

    def stmt_run(stmt_id: int, kind: bytes, *args: Any) -> Any:
        refuse_in_workflow()
        stmt = stmts.get(stmt_id)
        if stmt is None or stmt.closed:
            raise UnitError(INVALID, "sql: statement is closed")
        if stmt.tx is not None and not stmt.tx.active:
            raise UnitError(INVALID, "sql: transaction is not active")
        return run(stmt.db, stmt.tx, stmt.sql, params_of(args), kind.decode(), prepare=True)

    def stmt_close(stmt_id: int) -> Any:
        stmt = stmts.pop(stmt_id, None)
        if stmt is None:
            raise UnitError(INVALID, "sql: statement is closed")
        stmt.closed = True
        return True, None

    def begin(raw_id: Any, raw_isolation: Any, read_only: Any) -> Any:
        refuse_in_workflow()
        entry_id = lua_text(raw_id)
        db = database_of(raw_id)
        isolation = lua_text(raw_isolation) if raw_isolation is not None else "default"
        if isolation not in ISOLATION_LEVELS:
            raise UnitError(
                INVALID,
                f"sql begin: unknown isolation level '{isolation}' (expected one of: "
                + ", ".join(ISOLATION_LEVELS)
                + ")",
            )
        if read_only is not None and not isinstance(read_only, bool):
            raise UnitError(INVALID, "sql begin: read_only must be a boolean")
        tx_id = next(_ids)

        def opened(tx: _Tx) -> int:
            txs[tx_id] = tx
            scheduler = engine.scheduler
            if scheduler is not None:
                scheduler.cleanups.append(lambda: abandon(tx_id))
            return tx_id

        if isinstance(db, SqliteDatabase):
            tx = _Tx(db, None, entry_id)
            db.begin(isolation, bool(read_only), tx)
            return opened(tx), None

        def start() -> _Tx:
            conn = db.acquire()
            try:
                PgDatabase.begin(conn, isolation, bool(read_only))
            except BaseException:
                db.release(conn)
                raise
            return _Tx(db, conn, entry_id)

        return io(start, opened)

    def end(tx_id: int, commit: bool) -> Any:
        refuse_in_workflow()
        tx = txs.pop(tx_id, None)
        if tx is None or not tx.active:
            raise UnitError(INVALID, "sql: transaction is not active")
        tx.active = False
        db = tx.db
        if isinstance(db, SqliteDatabase):
            db.end(commit, tx)
            return True, None

        def finish() -> bool:
            try:
                PgDatabase.end(tx.conn, commit)
            finally:
                db.release(tx.conn)
            return True

        return io(finish, lambda ok: ok)

    def abandon(tx_id: int) -> None:
        """The invocation ended with ``tx_id`` open: roll it back, give its connection back."""
        tx = txs.pop(tx_id, None)
        if tx is None or not tx.active:
            return
        tx.active = False
        try:
            if isinstance(tx.db, SqliteDatabase):
                tx.db.end(False, tx)
            else:
                try:
                    PgDatabase.end(tx.conn, False)
                finally:
                    tx.db.release(tx.conn)
        except UnitError:
            pass  # the connection is given back (or closed) either way

    def savepoint(tx_id: int, op: bytes, raw_name: Any) -> Any:
        refuse_in_workflow()
        tx = txs.get(tx_id)
        if tx is None or not tx.active:
            raise UnitError(INVALID, "sql: transaction is not active")
        name = lua_text(raw_name) if raw_name is not None else ""
        if not SAVEPOINT_NAME.fullmatch(name):
            raise UnitError(
                INVALID,
                f"sql: invalid savepoint name '{name}' (letters, digits and underscores only)",
            )
        statement = {
            b"savepoint": f"SAVEPOINT {name}",
            b"rollback_to": f"ROLLBACK TO SAVEPOINT {name}",
            b"release": f"RELEASE SAVEPOINT {name}",
        }[op]
        db = tx.db
        if isinstance(db, SqliteDatabase):
            db.savepoint(statement, tx)
            return True, None
        conn = tx.conn
        return io(lambda: PgDatabase.run_execute(conn, statement, []), lambda _: True)

    def stats(raw_id: Any) -> Any:
        refuse_in_workflow()
        stats = database_of(raw_id).stats()
        return table_from({k.encode(): v for k, v in stats.items()}), None

    host = state.table(
        acquire=fallible(acquire),
        query=fallible(query),
        query_plain=state.wrap(query_plain),
        execute=fallible(execute),
        prepare=fallible(prepare),
        stmt_run=fallible(stmt_run),
        stmt_close=fallible(stmt_close),
        begin=fallible(begin),
        commit=fallible(lambda tx_id: end(tx_id, True)),
        rollback=fallible(lambda tx_id: end(tx_id, False)),
        savepoint=fallible(savepoint),
        stats=fallible(stats),
    )
    return state.lua.execute(_LUA, host, state.kit, name="=[kit]sql")


#: Parameter types the driver binds as Lua hands them over (a Lua string is bytes: decoded).
_PLAIN = frozenset((int, float, bool, type(None)))
#: Column value types that go to Lua as they are (None: NULL, an absent field).
_SCALARS = frozenset((int, float, bytes, bool, type(None)))
#: Results of at most this many values go back as multiple return values (see rows_table).
_INLINE_VALUES = 512
#: At most this many column-name lists are numbered (see query_plain); others are sent.
_SHAPES = 256


def _lua_plain(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list):
        return [_lua_plain(v) for v in value]
    return value
