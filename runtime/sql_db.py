"""The databases behind the ``sql`` module: SQLite (the standard library's ``sqlite3``) and
PostgreSQL (psycopg 3), one :class:`Databases` per engine, so one per Lambda container: a
connection opened on first use is kept for the container's next invocations and closed with
the engine.

- **SQLite** has one connection per entry, as Wippy forces (``max_open`` = 1), in WAL
  journal mode for a file. Its calls run on the scheduler's thread: a local SQLite statement
  takes microseconds, less than handing it to an I/O thread would cost.
- **PostgreSQL** keeps idle connections per entry (at most ``pool.max_open`` open, 0: no
  limit); a query borrows one for its duration, a transaction for its lifetime. Calls run on
  the engine's I/O threads (on the scheduler's when nothing else of the call could run).
  The password is the entry's ``password`` (``${env:NAME}`` expanded from the Lambda's
  environment), or read once per container from Secrets Manager (``password_secret``) or
  SSM Parameter Store (``password_parameter``).

Parameters are always bound by the driver, never interpolated: SQLite binds ``?``; for
PostgreSQL Wippy's ``$1, $2`` placeholders are sent as server-side parameters (psycopg's
``%s`` markers are what its API takes, so the query is tokenized and ``$n`` outside strings,
quoted names and comments become them; literal ``%`` is escaped).

Errors are :class:`UnitError` with Wippy's kinds (see :func:`sqlite_error`, :func:`pg_error`).
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import functools
import json
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from runtime import manifest
from runtime.errors import (
    ALREADY_EXISTS,
    CONFLICT,
    INTERNAL,
    INVALID,
    PERMISSION_DENIED,
    TIMEOUT,
    UNAVAILABLE,
    UnitError,
)
from runtime.resources import expand_env

#: Wippy's ``sql.isolation`` values -> PostgreSQL's BEGIN clause (None: the server default).
PG_ISOLATION = {
    "default": None,
    "read_uncommitted": "READ UNCOMMITTED",
    "read_committed": "READ COMMITTED",
    "repeatable_read": "REPEATABLE READ",
    "serializable": "SERIALIZABLE",
}
ISOLATION_LEVELS = (*PG_ISOLATION, "write_committed")
SAVEPOINT_NAME = re.compile(r"[A-Za-z0-9_]+")


class Typed:
    """A parameter with Wippy's ``sql.as.*`` type: ``kind`` is int/float/text/binary/null."""

    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: Any) -> None:
        self.kind, self.value = kind, value


def bind_value(value: Any, where: str) -> Any:
    """A parameter as the driver binds it: Lua strings as text (bytes that are not UTF-8 as
    a blob), numbers, booleans, nil as NULL, and the ``sql.as.*`` types coerced."""
    if isinstance(value, Typed):
        return _coerce(value, where)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    if value is None or isinstance(value, bool | int | float):
        return value
    raise UnitError(INVALID, f"{where}: a {type(value).__name__} cannot be bound")


def _coerce(typed: Typed, where: str) -> Any:
    value, kind = typed.value, typed.kind
    if kind == "null" or value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    try:
        if kind == "int":
            if isinstance(text, float) and not text.is_integer():
                raise ValueError
            return int(float(text)) if isinstance(text, str) and "." in text else int(text)
        if kind == "float":
            return float(text)
    except (TypeError, ValueError):
        raise UnitError(INVALID, f"{where}: {text!r} is not a valid {kind}") from None
    if kind == "text":
        if isinstance(text, float) and text.is_integer():
            return str(int(text))
        return str(text).lower() if isinstance(text, bool) else str(text)
    if kind == "binary":
        return value if isinstance(value, bytes) else str(value).encode()
    raise UnitError(INTERNAL, f"{where}: unknown SQL type {kind}")


def result_value(value: Any) -> Any:
    """A column value as plain data for Lua: NULL nil, numbers, text and blobs as strings,
    booleans; PostgreSQL's numeric as its exact text, dates and times in RFC 3339, UUIDs as
    text, JSON as its text, arrays as arrays."""
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [result_value(v) for v in value]
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# -- SQLite -------------------------------------------------------------------------------


def sqlite_error(what: str, exc: BaseException) -> UnitError:
    """A sqlite3 exception as Wippy's error: a syntax or binding error is INVALID, a UNIQUE
    or PRIMARY KEY violation ALREADY_EXISTS, another constraint INVALID, a busy database
    UNAVAILABLE (retryable)."""
    message = f"{what}: {exc}"
    if isinstance(exc, sqlite3.IntegrityError):
        unique = "UNIQUE constraint" in str(exc) or "PRIMARY KEY" in str(exc)
        return UnitError(ALREADY_EXISTS if unique else INVALID, message)
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        if "locked" in text or "busy" in text:
            return UnitError(UNAVAILABLE, message, retryable=True)
        if "unable to open" in text or "disk I/O" in text or "readonly" in text:
            return UnitError(UNAVAILABLE, message)
        return UnitError(INVALID, message)
    if isinstance(exc, sqlite3.ProgrammingError | sqlite3.DataError | sqlite3.InterfaceError):
        return UnitError(INVALID, message)
    return UnitError(INTERNAL, message)


class SqliteDatabase:
    """One ``db.sql.sqlite`` entry: its one connection (autocommit; transactions are
    explicit BEGIN/COMMIT), and which transaction holds it."""

    kind = "sqlite"

    def __init__(self, entry: manifest.SqlEntry, environ: Mapping[str, str]) -> None:
        self.entry = entry
        try:
            self.file = expand_env(entry.path or ":memory:", environ)
        except KeyError as missing:
            raise UnitError(
                INVALID,
                f"sql '{entry.id}': field 'file' needs the environment variable "
                f"{missing.args[0]}, which is not set",
            ) from None
        self.conn: sqlite3.Connection | None = None
        #: The open transaction's token (SQLite has one connection: a transaction holds it).
        self.tx_owner: object | None = None

    def connection(self) -> sqlite3.Connection:
        if self.conn is None:
            try:
                if self.file == ":memory:":
                    conn = sqlite3.connect(":memory:", isolation_level=None)
                else:
                    conn = sqlite3.connect(
                        f"file:{self.file}?mode=rwc", uri=True, isolation_level=None
                    )
                    conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error as exc:
                raise UnitError(
                    UNAVAILABLE, f"sql '{self.entry.id}': cannot open {self.file}: {exc}"
                ) from None
            # A held lock answers at once: every writer of this file is in this container.
            conn.execute("PRAGMA busy_timeout=0")
            # TEXT as the bytes Lua gets (no decode and re-encode; stored bytes that are not
            # UTF-8 come back as they are, as from Wippy's driver, instead of failing).
            conn.text_factory = bytes
            self.conn = conn
        return self.conn

    def check_free(self, owner: object | None, what: str) -> None:
        if self.tx_owner is not None and self.tx_owner is not owner:
            raise UnitError(
                INVALID,
                f"{what}: '{self.entry.id}' is held by an open transaction (SQLite has one "
                "connection): commit or roll it back first, or run this inside it",
            )

    def query(self, sql: str, params: Sequence[Any], owner: object | None = None) -> Any:
        """(column names, rows) of a query."""
        if self.tx_owner is not None:
            self.check_free(owner, "sql query")
        conn = self.conn
        try:
            cur = (conn if conn is not None else self.connection()).execute(sql, params)
            rows = cur.fetchall()
        except sqlite3.Error as exc:
            raise sqlite_error("sql query", exc) from None
        description = cur.description
        return [d[0] for d in description] if description else [], rows

    def execute(self, sql: str, params: Sequence[Any], owner: object | None = None) -> Any:
        """(last_insert_id, rows_affected) of a statement."""
        self.check_free(owner, "sql execute")
        try:
            cur = self.connection().execute(sql, params)
        except sqlite3.Error as exc:
            raise sqlite_error("sql execute", exc) from None
        return cur.lastrowid or 0, max(cur.rowcount, 0)

    def prepare(self, sql: str, owner: object | None = None) -> None:
        """Compile ``sql`` without running it (``EXPLAIN``, its parameters bound as NULL), so
        that a bad statement fails at ``prepare`` as a real prepared statement does."""
        self.check_free(owner, "sql prepare")
        conn = self.connection()
        count = 0
        for _ in range(2):
            try:
                conn.execute("EXPLAIN " + sql, [None] * count).fetchall()
                return
            except sqlite3.ProgrammingError as exc:
                found = re.search(r"statement uses (\d+)", str(exc))
                if found is None:
                    raise sqlite_error("sql prepare", exc) from None
                count = int(found[1])
            except sqlite3.Error as exc:
                raise sqlite_error("sql prepare", exc) from None

    def begin(self, isolation: str, read_only: bool, owner: object) -> None:
        self.check_free(None, "sql begin")
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE" if isolation == "serializable" else "BEGIN")
            if read_only:
                conn.execute("PRAGMA query_only=ON")
        except sqlite3.Error as exc:
            raise sqlite_error("sql begin", exc) from None
        self.tx_owner = owner

    def end(self, commit: bool, owner: object) -> None:
        """Commit or roll back ``owner``'s transaction; the connection is free after, even if
        the commit failed (a failed COMMIT is rolled back)."""
        conn = self.connection()
        try:
            conn.execute("COMMIT" if commit else "ROLLBACK")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise sqlite_error("sql commit" if commit else "sql rollback", exc) from None
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA query_only=OFF")
            self.tx_owner = None

    def savepoint(self, statement: str, owner: object) -> None:
        self.check_free(owner, "sql savepoint")
        try:
            self.connection().execute(statement)
        except sqlite3.Error as exc:
            raise sqlite_error(f"sql {statement.split()[0].lower()}", exc) from None

    def stats(self) -> dict[str, int]:
        open_ = 1 if self.conn is not None else 0
        busy = 1 if self.tx_owner is not None else 0
        return _stats(1, open_, busy)

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
            self.conn = None


def _stats(max_open: int, open_: int, in_use: int) -> dict[str, int]:
    return {
        "max_open_connections": max_open,
        "open_connections": open_,
        "in_use": in_use,
        "idle": open_ - in_use,
        "wait_count": 0,
        "wait_duration": 0,
        "max_idle_closed": 0,
        "max_idle_time_closed": 0,
        "max_lifetime_closed": 0,
    }


# -- PostgreSQL ---------------------------------------------------------------------------

_PG_TOKENS = re.compile(
    r"""
      (?P<str>'(?:[^']|'')*'?)                        # '...' ('' escapes a quote)
    | (?P<ident>"(?:[^"]|"")*"?)                      # "quoted name"
    | (?P<line>--[^\n]*)                              # -- comment
    | (?P<block>/\*.*?(?:\*/|\Z))                     # /* comment */
    | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*)?\$) # $tag$ ... $tag$ string
    | (?P<param>\$(?P<n>[0-9]+))                      # $1
    | (?P<pct>%)
    """,
    re.VERBOSE | re.DOTALL,
)


def pg_placeholders(sql: str, params: Sequence[Any]) -> tuple[str, list[Any]]:
    """``sql`` with Wippy's (libpq's) ``$n`` placeholders as psycopg's ``%s`` markers, and
    the parameters in the markers' order (``$2 ... $1 ... $2`` binds three values).

    Raises:
        UnitError: INVALID when a ``$n`` names a parameter that was not given, or a given one
            is never used (PostgreSQL refuses both).
    """
    query, numbers = _pg_template(sql)
    count = len(params)
    args: list[Any] = []
    for n in numbers:
        if n < 1 or n > count:
            raise UnitError(
                INVALID,
                f"sql: the query uses ${n} but {count} parameter"
                f"{'' if count == 1 else 's'} were given",
            )
        args.append(params[n - 1])
    used = set(numbers)
    if len(used) != count:
        missing = sorted(set(range(1, count + 1)) - used)
        raise UnitError(
            INVALID,
            f"sql: {count} parameters were given but the query does not use "
            + ", ".join(f"${n}" for n in missing)
            + " (PostgreSQL placeholders are $1, $2, ...)",
        )
    return query, args


@functools.lru_cache(maxsize=256)
def _pg_template(sql: str) -> tuple[str, tuple[int, ...]]:
    """``sql`` tokenized once (a function runs the same few statements over and over): its
    text with ``%s`` markers and ``%`` escaped, and the ``$n`` numbers in marker order."""
    out: list[str] = []
    numbers: list[int] = []
    pos = 0
    while True:
        match = _PG_TOKENS.search(sql, pos)
        if match is None:
            out.append(sql[pos:])
            break
        out.append(sql[pos : match.start()])
        kind = match.lastgroup if match.lastgroup != "tag" else "dollar"
        if kind == "n":
            kind = "param"
        if kind == "dollar":
            # The body runs to the same tag; copied as is (a % in it still needs escaping).
            delim = match.group("dollar")
            close = sql.find(delim, match.end())
            end = len(sql) if close < 0 else close + len(delim)
            out.append(sql[match.start() : end].replace("%", "%%"))
            pos = end
            continue
        if kind == "param":
            numbers.append(int(match.group("n")))
            out.append("%s")
        elif kind == "pct":
            out.append("%%")
        else:
            out.append(match.group(0).replace("%", "%%"))
        pos = match.end()
    return "".join(out), tuple(numbers)


def pg_dsn(entry: manifest.SqlEntry, environ: Mapping[str, str], password: str | None) -> str:
    """The libpq connection string of ``entry`` (Wippy's ``host= port= user= password=
    dbname=`` plus the sorted ``options``), values quoted as libpq wants."""

    def quote(value: Any) -> str:
        text = str(value)
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def field(name: str, value: Any) -> str:
        if isinstance(value, str):
            try:
                value = expand_env(value, environ)
            except KeyError as missing:
                raise UnitError(
                    INVALID,
                    f"sql '{entry.id}': field '{name}' needs the environment variable "
                    f"{missing.args[0]}, which is not set",
                ) from None
        return str(value)

    parts = {
        "host": field("host", entry.host or "localhost"),
        "port": field("port", entry.port or 5432),
        "user": field("username", entry.username or ""),
        "dbname": field("database", entry.database or ""),
    }
    if password is not None:
        parts["password"] = password
    for key in sorted(entry.options):
        parts[key] = field(f"options.{key}", entry.options[key])
    return " ".join(f"{k}={quote(v)}" for k, v in parts.items() if v != "")


def pg_error(what: str, exc: BaseException) -> UnitError:
    """A psycopg exception as Wippy's error, by SQLSTATE class: syntax and other program
    errors (42) and data errors (22) INVALID; a unique violation ALREADY_EXISTS, another
    integrity violation INVALID; a serialization failure or deadlock CONFLICT (retryable);
    bad credentials PERMISSION_DENIED; a refused or lost connection UNAVAILABLE (retryable);
    a statement timeout TIMEOUT."""
    import psycopg

    state = getattr(getattr(exc, "diag", None), "sqlstate", None) or getattr(exc, "sqlstate", None)
    text = str(exc).strip().replace("\n", " ")
    message = f"{what}: {text}" + (f" (SQLSTATE {state})" if state else "")
    if state:
        if state == "23505":
            return UnitError(ALREADY_EXISTS, message)
        if state in ("40001", "40P01"):
            return UnitError(CONFLICT, message, retryable=True)
        if state == "57014":
            return UnitError(TIMEOUT, message, retryable=True)
        if state.startswith("28"):
            return UnitError(PERMISSION_DENIED, message)
        if state == "42501":
            return UnitError(PERMISSION_DENIED, message)
        if state[:2] in ("22", "23", "42", "25", "26", "34", "3D", "3F"):
            return UnitError(INVALID, message)
        if state[:2] in ("08", "57", "53"):
            return UnitError(UNAVAILABLE, message, retryable=True)
    if isinstance(exc, psycopg.ProgrammingError):
        return UnitError(INVALID, message)
    if isinstance(exc, psycopg.OperationalError):
        return UnitError(UNAVAILABLE, message, retryable=True)
    return UnitError(INTERNAL, message)


def connect_error(what: str, exc: BaseException) -> UnitError:
    """A failed connect: libpq reports it as text (no SQLSTATE), so by what it says: a
    missing database or role, a bad option or DSN INVALID; failed authentication
    PERMISSION_DENIED; anything else (refused, unreachable, timed out) UNAVAILABLE."""
    text = str(exc).strip().replace("\n", " ")
    lowered = text.lower()
    message = f"{what}: {text}"
    if "password authentication failed" in lowered or "no pg_hba.conf entry" in lowered:
        return UnitError(PERMISSION_DENIED, message)
    if any(
        phrase in lowered
        for phrase in (
            "does not exist",
            "invalid connection option",
            "invalid dsn",
            "invalid integer value",
            "invalid port",
            'missing "="',
        )
    ):
        return UnitError(INVALID, message)
    error = pg_error(what, exc)
    if error.kind in (INVALID, PERMISSION_DENIED):
        return error
    return UnitError(UNAVAILABLE, message, retryable=True)


class PgDatabase:
    """One ``db.sql.postgres`` entry: its idle connections and how many are open."""

    kind = "postgres"

    def __init__(
        self,
        entry: manifest.SqlEntry,
        environ: Mapping[str, str],
        secrets: Callable[[manifest.SqlEntry], str | None],
    ) -> None:
        self.entry, self.environ, self.secrets = entry, environ, secrets
        self.idle: list[Any] = []
        self.open = 0
        self.max_open = entry.max_open
        self.lock = threading.Lock()
        self.dsn: str | None = None

    def _dsn(self) -> str:
        if self.dsn is None:
            password = self.secrets(self.entry)
            if password is None and self.entry.password is not None:
                try:
                    password = expand_env(self.entry.password, self.environ)
                except KeyError as missing:
                    raise UnitError(
                        INVALID,
                        f"sql '{self.entry.id}': field 'password' needs the environment "
                        f"variable {missing.args[0]}, which is not set",
                    ) from None
            self.dsn = pg_dsn(self.entry, self.environ, password)
        return self.dsn

    def acquire(self) -> Any:
        """An idle connection, or a new one (on an I/O thread)."""
        import psycopg

        with self.lock:
            while self.idle:
                conn = self.idle.pop()
                if not conn.closed and not conn.broken:
                    return conn
                self.open -= 1
            if self.max_open and self.open >= self.max_open:
                raise UnitError(
                    UNAVAILABLE,
                    f"sql '{self.entry.id}': all {self.max_open} connections (pool.max_open) "
                    "are in use",
                    retryable=True,
                )
            self.open += 1
        try:
            dsn = self._dsn()
            return psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        except BaseException as exc:
            with self.lock:
                self.open -= 1
            if isinstance(exc, UnitError):
                raise
            if isinstance(exc, psycopg.Error):
                raise connect_error(f"sql '{self.entry.id}': cannot connect", exc) from None
            raise
        finally:
            pass

    def release(self, conn: Any) -> None:
        """Give ``conn`` back (a broken one, or one left inside a transaction, is closed)."""
        import psycopg

        healthy = not conn.closed and not conn.broken
        if healthy and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
            healthy = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        with self.lock:
            if healthy:
                self.idle.append(conn)
                return
            self.open -= 1
        with contextlib.suppress(Exception):
            conn.close()

    @staticmethod
    def run_query(conn: Any, sql: str, params: Sequence[Any], prepare: bool = False) -> Any:
        import psycopg

        query, args = pg_placeholders(sql, params)
        try:
            cur = conn.execute(query, args, prepare=prepare or None)
            description = cur.description  # built anew on each read
            if description is None:
                return [], []
            return [d.name for d in description], cur.fetchall()
        except psycopg.Error as exc:
            raise pg_error("sql query", exc) from None

    @staticmethod
    def run_execute(conn: Any, sql: str, params: Sequence[Any], prepare: bool = False) -> Any:
        import psycopg

        query, args = pg_placeholders(sql, params)
        try:
            cur = conn.execute(query, args, prepare=prepare or None)
            # PostgreSQL has no last insert id (use RETURNING): 0, as Go's driver gives.
            return 0, max(cur.rowcount, 0)
        except psycopg.Error as exc:
            raise pg_error("sql execute", exc) from None

    @staticmethod
    def check_prepare(conn: Any, sql: str) -> None:
        """Parse ``sql`` on the server (an unnamed statement) so a bad one fails now."""
        import psycopg
        from psycopg import pq

        result = conn.pgconn.prepare(b"", sql.encode())
        if result.status != pq.ExecStatus.COMMAND_OK:
            exc = psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
            raise pg_error("sql prepare", exc)

    def with_conn(self, fn: Callable[[Any], Any]) -> Any:
        conn = self.acquire()
        try:
            return fn(conn)
        finally:
            self.release(conn)

    @staticmethod
    def begin(conn: Any, isolation: str, read_only: bool) -> None:
        import psycopg

        if isolation not in PG_ISOLATION:
            raise UnitError(INVALID, f"sql begin: PostgreSQL has no isolation level {isolation}")
        statement = "BEGIN"
        if PG_ISOLATION[isolation]:
            statement += f" ISOLATION LEVEL {PG_ISOLATION[isolation]}"
        if read_only:
            statement += " READ ONLY"
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            raise pg_error("sql begin", exc) from None

    @staticmethod
    def end(conn: Any, commit: bool) -> None:
        import psycopg

        try:
            conn.execute("COMMIT" if commit else "ROLLBACK")
        except psycopg.Error as exc:
            raise pg_error("sql commit" if commit else "sql rollback", exc) from None

    def stats(self) -> dict[str, int]:
        with self.lock:
            return _stats(self.max_open, self.open, self.open - len(self.idle))

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
            self.open -= len(idle)
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.close()


class Databases:
    """The open databases of one engine, by entry id; closed with the engine."""

    def __init__(self, environ: Mapping[str, str], secret_reader: Any = None) -> None:
        self.environ = environ
        self.secret_reader = secret_reader or read_password_secret
        self._dbs: dict[str, SqliteDatabase | PgDatabase] = {}
        self._lock = threading.Lock()

    def get(self, entry: manifest.SqlEntry) -> SqliteDatabase | PgDatabase:
        with self._lock:
            db = self._dbs.get(entry.id)
            if db is None:
                if entry.kind == "db.sql.sqlite":
                    db = SqliteDatabase(entry, self.environ)
                else:
                    db = PgDatabase(entry, self.environ, self.secret_reader)
                self._dbs[entry.id] = db
            return db

    def close(self) -> None:
        with self._lock:
            dbs, self._dbs = list(self._dbs.values()), {}
        for db in dbs:
            db.close()


def read_password_secret(entry: manifest.SqlEntry) -> str | None:
    """The password ``entry`` names in Secrets Manager (``password_secret``: a plain string
    secret, or a JSON one with a ``password`` key, as RDS writes them) or SSM Parameter Store
    (``password_parameter``, decrypted); None when it names neither."""
    if not entry.password_secret and not entry.password_parameter:
        return None
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if entry.password_secret:
            answer = boto3.client("secretsmanager").get_secret_value(SecretId=entry.password_secret)
            text = answer.get("SecretString") or ""
            with contextlib.suppress(ValueError):
                data = json.loads(text)
                if isinstance(data, dict):
                    if "password" not in data:
                        raise UnitError(
                            INVALID,
                            f"sql '{entry.id}': the secret {entry.password_secret} is JSON "
                            "without a 'password' key",
                        )
                    return str(data["password"])
            return text
        answer = boto3.client("ssm").get_parameter(
            Name=entry.password_parameter, WithDecryption=True
        )
        return str(answer["Parameter"]["Value"])
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        source = entry.password_secret or entry.password_parameter
        kind = PERMISSION_DENIED if "AccessDenied" in code else UNAVAILABLE
        if code in ("ResourceNotFoundException", "ParameterNotFound"):
            kind = INVALID
        raise UnitError(
            kind,
            f"sql '{entry.id}': cannot read the password from {source}: {code}: "
            f"{error.get('Message', exc)}",
        ) from None
    except BotoCoreError as exc:
        raise UnitError(
            UNAVAILABLE, f"sql '{entry.id}': cannot read the password: {exc}", retryable=True
        ) from None
