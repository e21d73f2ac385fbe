"""Loading an application folder: every ``_index.yaml`` under it, checked as one whole.

Each ``_index.yaml`` holds ``version: "1.0"``, a ``namespace`` and a list of ``entries``; an entry's
id is ``namespace:name``. :func:`load_app` reads them all, checks every field, resolves every
reference to a full id and checks the target's kind, then returns a :class:`Registry`. It never
half-succeeds: every problem found in every file is collected and raised together as one
:class:`~runtime.errors.ManifestError`, each problem naming the file, the entry and the field.

Durations are accepted as ``"250ms"``/``"1h30m"`` strings or numbers of milliseconds and stored
as float seconds.

Wippy's own manifests load as they are. Kinds with a meaning here are honoured (``http.service``
/ ``http.router`` / ``http.endpoint`` become the HTTP API, ``temporal.worker`` a workflow host,
``temporal.client`` is accepted); kinds with none (:mod:`runtime.wippy_kinds`) are skipped, and
so are entries that need a skipped one. Every skipped entry and every field accepted but not
applied is one line of :attr:`Registry.warnings`, shown once by the caller as one warning
(:func:`announce`). Unknown kinds and fields, malformed values and dangling references still
fail the load.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, overload
from urllib.parse import urlparse

import yaml

from runtime import cors as cors_config
from runtime.cors import CorsPolicy
from runtime.dialect._lexer import NAME, STRING, lex
from runtime.durations import parse_duration
from runtime.errors import KIND_NAMES, NOT_FOUND, ManifestError, UnitError, kind_of
from runtime.modules import GLOBAL_MODULES, MODULE_NAMES, WIPPY_MODULES, unavailable_modules
from runtime.wippy_kinds import (
    MIDDLEWARE,
    MIDDLEWARE_NOT_APPLIED,
    WIPPY_KIND_EXAMPLES,
    skip_reason,
)

INDEX_FILE = "_index.yaml"
VERSION = "1.0"

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAMESPACE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_ENV_KEY = re.compile(r"[A-Z_][A-Z0-9_]*")
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}")
_PATH_LITERAL = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%-]+")
_LUA_KEYWORD_TEXT = (
    "and break do else elseif end false for function goto if in local nil not or repeat return "
    "then true until while"
)
_LUA_KEYWORDS = frozenset(_LUA_KEYWORD_TEXT.split())
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
#: A listen address: ``:8080``, ``0.0.0.0:443``, ``localhost:80``, ``[::1]:8080``.
_ADDR = re.compile(r"(?:[A-Za-z0-9_.-]*|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})")

log = logging.getLogger("units.manifest")
#: How long a host keeps what has ended (a run's history, an exited actor's snapshot, a spent
#: workflow name) by default: 30 days. Then DynamoDB's TTL deletes it.
DEFAULT_RETENTION = 30 * 24 * 3600.0
#: The shortest ``retention`` but 0 (kept for good): an ended actor's snapshot answers the
#: messages still on their way to it, and an ended run's history its last readers.
MIN_RETENTION = 3600.0


# -- entries -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Deploy:
    """How a function is deployed: Lambda memory (MB), timeout (s), its own Lambda or not, and
    that Lambda's reserved concurrency (None: unreserved; only with ``remote``)."""

    memory: int = 512
    timeout: float = 30.0
    remote: bool = False
    reserved_concurrency: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Activity retry policy. ``maximum_attempts`` 0 means unlimited; intervals are seconds.

    ``maximum_interval`` left as None becomes 100 times ``initial_interval``.
    """

    initial_interval: float = 1.0
    backoff_coefficient: float = 2.0
    maximum_interval: float | None = None
    maximum_attempts: int = 0
    non_retryable: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.maximum_interval is None:
            object.__setattr__(self, "maximum_interval", 100 * self.initial_interval)


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartPolicy:
    """How a service is restarted; ``max_attempts`` 0 means unlimited, delays are seconds."""

    type: str = "permanent"
    max_attempts: int = 0
    initial_delay: float = 1.0
    max_delay: float = 90.0
    backoff_factor: float = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Lifecycle:
    """A service's lifecycle: started on deploy or not, and its restart policy. As in Wippy, a
    service starts on its own only with ``auto_start: true`` (a tree's children are started by
    their tree whatever theirs says)."""

    auto_start: bool = False
    restart: RestartPolicy = RestartPolicy()


@dataclass(frozen=True, slots=True, kw_only=True)
class Intensity:
    """A supervision tree gives up after ``max_restarts`` restarts within ``period`` seconds."""

    max_restarts: int = 3
    period: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Jwt:
    """JWT authorizer settings of an endpoint with ``auth: jwt``."""

    issuer: str
    audience: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """What every entry has. ``file`` is its ``_index.yaml`` path relative to the app folder."""

    id: str
    namespace: str
    name: str
    kind: str
    file: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeEntry(Entry):
    """An entry with Lua code. ``source`` is as written (``file://x.lua``); ``source_name`` is
    the file's path relative to the app folder (the Lua chunk name); ``code`` its text.
    ``imports`` maps a ``require`` alias to a ``library.lua`` entry id."""

    source: str
    source_path: Path
    source_name: str
    code: str
    modules: tuple[str, ...] = ()
    imports: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionEntry(CodeEntry):
    """``function.lua``: a stateless handler. ``timeout`` (s) is the default per-call timeout;
    ``retry`` (None when not given) its retry policy when called as a workflow activity."""

    kind: str = "function.lua"
    method: str = "handler"
    env: dict[str, str] = field(default_factory=dict)
    deploy: Deploy = Deploy()
    retry: RetryPolicy | None = None
    timeout: float | None = None
    #: Wippy's ``meta.temporal.activity.local``: False runs its activities through the
    #: activity queue; True or not given (None), inline in the workflow step.
    activity_local: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LibraryEntry(CodeEntry):
    """``library.lua``: a Lua module other entries ``require`` through ``imports``."""

    kind: str = "library.lua"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessEntry(CodeEntry):
    """``process.lua``: an actor (``init``/``handle``/``on_event``); ``method`` names a loop-style
    entry point when set."""

    kind: str = "process.lua"
    method: str | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowEntry(CodeEntry):
    """``workflow.lua``: a durable ``main(input)``; ``retry`` is its activities' default policy.
    ``worker`` is the host it is registered on (Wippy's ``meta.temporal.workflow.worker``): the
    host a start that names none runs it on."""

    kind: str = "workflow.lua"
    method: str = "main"
    env: dict[str, str] = field(default_factory=dict)
    retry: RetryPolicy = RetryPolicy()
    worker: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessHostEntry(Entry):
    """``process.host``: one SQS FIFO queue (+ DLQ) and one worker Lambda. Durations in seconds."""

    kind: str = "process.host"
    batch_size: int = 10
    max_concurrency: int | None = None
    visibility_timeout: float = 60.0
    max_receive_count: int = 5
    #: A loop-style process whose journal generation passes this many events logs a warning.
    journal_warning: int = 10_000
    lambda_timeout: float = 30.0
    #: How long an exited or crashed actor's snapshot is kept (seconds; 0: for good).
    retention: float = DEFAULT_RETENTION


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowHostEntry(Entry):
    """``workflow.host``: the driver state machine plus step and activity Lambdas."""

    kind: str = "workflow.host"
    activity_batch_size: int = 10
    activity_max_receive_count: int = 5
    step_timeout: float = 60.0
    max_concurrency: int | None = None
    #: How long an ended run's history, index and spent keys are kept (seconds; 0: for good).
    retention: float = DEFAULT_RETENTION


@dataclass(frozen=True, slots=True, kw_only=True)
class TemporalWorkerEntry(WorkflowHostEntry):
    """``temporal.worker``: Wippy's workflow worker, which here *is* a workflow host (driver
    state machine, step and activity Lambdas); no Temporal server is involved. ``client`` is
    its ``temporal.client`` and ``task_queue`` the name Temporal would poll, kept as written
    (each worker gets its own activity queue whatever the name)."""

    kind: str = "temporal.worker"
    client: str
    task_queue: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TemporalClientEntry(Entry):
    """``temporal.client``: accepted so Wippy's manifests load; there is no Temporal server to
    reach, so its connection settings are checked for shape and not used."""

    kind: str = "temporal.client"
    address: str
    temporal_namespace: str = "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpServiceEntry(Entry):
    """``http.service``: a Wippy HTTP server. Every one of an app's servers is the one API
    Gateway HTTP API; ``addr`` (and its ``port``) is kept as written and not listened on."""

    kind: str = "http.service"
    addr: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRouterEntry(Entry):
    """``http.router``: endpoints attached to it (``meta.router``) are routed at ``prefix`` +
    their path. ``server`` is its ``http.service`` (``meta.server``); ``auth``/``jwt`` (the
    kit's, None when not given) is the default of its endpoints that set none. ``cors`` is
    what its ``cors`` middleware and options ask for (None without it): the whole HTTP API's
    CORS configuration (:attr:`Registry.cors`)."""

    kind: str = "http.router"
    server: str
    prefix: str = ""
    middleware: tuple[str, ...] = ()
    post_middleware: tuple[str, ...] = ()
    auth: str | None = None
    jwt: Jwt | None = None
    cors: CorsPolicy | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceEntry(Entry):
    """``process.service``: a supervised process (``process`` on ``host``, started with
    ``args``: Wippy's ``input``) and/or a tree node (``children``, full ids of other services,
    restarted per ``strategy``). ``registry_name`` is the kit's: a name the process is
    registered under (in Wippy a process registers itself)."""

    kind: str = "process.service"
    process: str | None = None
    host: str | None = None
    args: tuple[Any, ...] = ()
    registry_name: str | None = None
    lifecycle: Lifecycle = Lifecycle()
    children: tuple[str, ...] = ()
    strategy: str = "one_for_one"
    intensity: Intensity = Intensity()


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointEntry(Entry):
    """``http.endpoint``: ``method`` (upper case) ``path`` routed to the function ``func``.
    ``path`` is the whole route: with a ``router`` (Wippy's ``meta.router``) the router's
    prefix and the path as written, joined. ``params`` lists every path parameter in order, the
    greedy one included; ``greedy`` names the final ``{rest...}`` parameter, if any. ``auth``
    is the endpoint's own, else its router's, else ``iam``."""

    kind: str = "http.endpoint"
    method: str
    path: str
    func: str
    auth: str = "iam"
    jwt: Jwt | None = None
    params: tuple[str, ...] = ()
    greedy: str | None = None
    router: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreEntry(Entry):
    """A ``store.*`` entry (``store.memory``, ``store.kv.raft``, ``store.kv.crdt``): a set of
    keys in the application's store table (:mod:`runtime.modules.store_module`). ``partition``
    is the DynamoDB partition its keys live in: ``m#<entry id>`` for a memory store, the shared
    ``kv#<namespace>`` for the kv kinds (two kv entries of one namespace see the same keys, as
    in Wippy). ``max_size`` and ``cleanup_interval`` are checked, not applied (see
    docs/modules/store.md)."""

    kind: str = "store.memory"
    partition: str
    max_size: int = 10000
    cleanup_interval: float = 300.0
    kv_namespace: str | None = None
    durable: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AwsConfigEntry(Entry):
    """``config.aws``: the region (None: the Lambda's own) AWS clients of the entries that name
    it use, as written (``${env:NAME}`` expanded when the client is made). Credentials are never
    taken from it: the Lambda's role signs every request."""

    kind: str = "config.aws"
    region: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class S3StorageEntry(Entry):
    """``cloudstorage.s3``: a bucket (``bucket`` as written, None: the stack creates one) read
    through ``config`` (a ``config.aws``), at ``endpoint`` when one is given (path-style)."""

    kind: str = "cloudstorage.s3"
    config: str
    bucket: str | None = None
    endpoint: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FsDirectoryEntry(Entry):
    """``fs.directory``: a volume rooted at ``directory`` as written (Wippy's path, placed under
    the kit's own root for the volumes, :mod:`runtime.modules.fs_module`), ``mode`` the octal
    permission bits every operation is checked against (execute bits added where read bits
    are, as Wippy does), ``base`` how a relative ``directory`` is read (``project`` or
    ``module``: one app folder here, so the same place)."""

    kind: str = "fs.directory"
    directory: str
    mode: int = 0o755
    base: str = "project"
    auto_init: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SqlEntry(Entry):
    """A ``db.sql.sqlite`` or ``db.sql.postgres`` entry (:mod:`runtime.sql_db`): SQLite's
    ``path`` (its ``file`` field; ``:memory:`` for an in-memory database), PostgreSQL's
    connection fields as written (``${env:NAME}`` expanded when it connects), ``options``
    appended to the DSN, ``max_open`` from ``pool`` (0: no limit), and where the password
    is read from when not written: ``password_secret`` (a Secrets Manager ARN) or
    ``password_parameter`` (an SSM parameter ARN)."""

    kind: str = "db.sql.sqlite"
    path: str | None = None
    host: str | None = None
    port: int | str | None = None
    database: str | None = None
    username: str | None = None
    password: str | None = None
    password_secret: str | None = None
    password_parameter: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    max_open: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueDriverEntry(Entry):
    """``queue.driver.memory`` or ``queue.driver.sqs``: both are SQS here (a memory queue
    becomes an SQS queue of the stack too; see docs/modules/queue.md). ``config`` is the
    ``config.aws`` of an SQS driver (its region is the Lambda's own: queues are the stack's);
    ``message_retention_period`` and ``default_delay_seconds`` (seconds) apply to every queue
    of the driver."""

    kind: str = "queue.driver.sqs"
    config: str | None = None
    message_retention_period: int = 1209600
    default_delay_seconds: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueEntry(Entry):
    """``queue.queue``: one SQS queue (+ its DLQ). ``queue_name`` is the physical name when
    given (a ``.fifo`` name makes a FIFO queue, as Wippy's SQS driver decides); ``dead_letter``
    the ``queue.queue`` failed messages go to instead of the queue's own DLQ, after
    ``max_attempts`` receives; ``visibility_timeout`` (seconds, None: the stack decides) is
    ``driver_options.sqs.default_visibility_timeout``."""

    kind: str = "queue.queue"
    driver: str
    queue_name: str | None = None
    codec: str = "json/plain"
    dead_letter_queue: str | None = None
    max_attempts: int = 5
    visibility_timeout: int | None = None

    @property
    def fifo(self) -> bool:
        """Whether the queue is FIFO (its name ends in ``.fifo``)."""
        return bool(self.queue_name and self.queue_name.endswith(".fifo"))


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConsumerEntry(Entry):
    """``queue.consumer``: ``func`` (a ``function.lua``) run for every message of ``queue``;
    at most ``concurrency`` batches at once, ``prefetch`` messages handed over per batch (at
    most 10 per Lambda batch)."""

    kind: str = "queue.consumer"
    queue: str
    func: str
    concurrency: int = 1
    prefetch: int = 10

    @property
    def batch_size(self) -> int:
        """Messages per batch: ``prefetch``, at most SQS's 10 per receive."""
        return min(self.prefetch, 10)


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """An entry the load skipped (no meaning here, or it needs one that has none): its id,
    kind, file and why."""

    id: str
    kind: str
    file: str
    reason: str


E = TypeVar("E", bound=Entry)


class Registry:
    """The loaded entries of one application folder, by id, in load order.

    ``skipped`` holds the entries the load skipped, by id; ``warnings`` one line per skipped
    entry and per field accepted but not applied (:attr:`warning` is them as one message).
    ``cors`` is the HTTP API's one CORS configuration, from the routers that list the ``cors``
    middleware (None when none does).
    """

    def __init__(
        self,
        root: Path,
        entries: Mapping[str, Entry],
        *,
        skipped: Mapping[str, SkippedEntry] | None = None,
        warnings: tuple[str, ...] = (),
        cors: CorsPolicy | None = None,
    ) -> None:
        self.root = root
        self.entries: dict[str, Entry] = dict(entries)
        self.skipped: dict[str, SkippedEntry] = dict(skipped or {})
        self.warnings: tuple[str, ...] = tuple(warnings)
        self.cors = cors

    @property
    def warning(self) -> str | None:
        """The load's one warning (every line of :attr:`warnings`), or None when all of the
        application is honoured."""
        if not self.warnings:
            return None
        skipped = len(self.skipped)
        head = f"{self.root}: loaded; " + (
            f"{skipped} entr{'y' if skipped == 1 else 'ies'} skipped and some settings not applied"
            if skipped
            else "some settings are not applied"
        )
        return (
            head
            + " (no meaning on AWS serverless here, or not provided yet):\n"
            + "\n".join(f"  {line}" for line in self.warnings)
        )

    def get(self, entry_id: str) -> Entry:
        """The entry ``entry_id``; a NOT_FOUND :class:`UnitError` (with a suggestion, or why it
        was skipped) if none."""
        entry = self.entries.get(entry_id)
        if entry is None:
            skipped = self.skipped.get(entry_id)
            if skipped is not None:
                raise UnitError(
                    NOT_FOUND,
                    f"'{entry_id}' is a {skipped.kind}, which this kit skips: {skipped.reason}",
                )
            raise UnitError(
                NOT_FOUND, f"no entry '{entry_id}'{_did_you_mean(entry_id, self.entries)}"
            )
        return entry

    def find(self, entry_id: str) -> Entry | None:
        """The entry ``entry_id``, or None."""
        return self.entries.get(entry_id)

    @overload
    def of_kind(self, kind: type[E]) -> list[E]: ...
    @overload
    def of_kind(self, kind: str) -> list[Entry]: ...
    def of_kind(self, kind: str | type[Entry]) -> list[Any]:
        """Entries of a kind name (``"function.lua"``) or class (subclasses count), load order."""
        if isinstance(kind, str):
            if kind not in _KINDS:
                if skip_reason(kind) is not None:
                    return []  # a kind the kit skips: never in the registry
                raise ValueError(f"unknown kind {kind!r} (expected one of: {', '.join(_KINDS)})")
            return [e for e in self.entries.values() if e.kind == kind]
        return [e for e in self.entries.values() if isinstance(e, kind)]

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Entry]:
        """Iterates over entries (not ids), in load order."""
        return iter(self.entries.values())

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r}, {len(self.entries)} entries)"


def resolve_ref(ref: str, namespace: str) -> str:
    """``ns:name`` as is, a bare ``name`` as ``namespace:name``; ValueError when malformed."""
    ns, sep, name = ref.rpartition(":")
    if not sep:
        ns = namespace
    if not _NAMESPACE.fullmatch(ns) or not _NAME.fullmatch(name):
        raise ValueError(f"invalid reference '{ref}' (expected 'namespace:name' or 'name')")
    return f"{ns}:{name}"


def load_app(path: str | Path) -> Registry:
    """Load and check the application folder ``path``; raise ManifestError listing every problem."""
    root = Path(path)
    if not root.is_dir():
        reason = "is not a folder" if root.exists() else "not found"
        raise ManifestError([f"{path}: application folder {reason}"])
    root = root.resolve()
    files = _index_files(root)
    if not files:
        raise ManifestError([f"{path}: no {INDEX_FILE} found in the application folder"])
    loader = _Loader(root)
    for index in files:
        loader.load_file(index)
    loader.check_links()
    if loader.problems:
        raise ManifestError(loader.problems)
    return Registry(
        root,
        loader.entries,
        skipped=loader.skipped,
        warnings=tuple(loader.warning_lines()),
        cors=loader.cors,
    )


class ManifestWarning(UserWarning):
    """The load's one warning (:attr:`Registry.warning`), as the test harness issues it."""


_announced: set[str] = set()


def announce(registry: Registry) -> bool:
    """Log the registry's warning (logger ``units.manifest``) unless this process has already
    logged the same text: loading an app again, or reloading it unchanged, stays quiet.
    Returns whether it logged."""
    text = registry.warning
    if text is None or text in _announced:
        return False
    _announced.add(text)
    log.warning(text)
    return True


def _index_files(root: Path) -> list[Path]:
    # A sorted walk keeps load order (and so problem order) deterministic; a folder's own file
    # comes before its subfolders'. Hidden folders (.git, .venv) are not part of the app.
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if INDEX_FILE in files:
            found.append(Path(folder) / INDEX_FILE)
    return found


# -- field parsing -------------------------------------------------------------------------------


class _Bad(Exception):
    """A value is wrong; the message says why (the caller adds file, entry and field)."""


class _Reported(Exception):
    """A value is wrong and its problems have already been recorded."""


_REQUIRED = object()
_INVALID = object()
Parser = Callable[["_Ctx", Any], Any]


@dataclass(frozen=True, slots=True)
class _Field:
    """How one field parses, its default, and whether its value goes into the entry (a field
    only checked, or only read by the kind's check, has ``keep=False``)."""

    parse: Parser
    default: Any = _REQUIRED
    keep: bool = True


class _Ctx:
    """Where a value sits (file, entry, field path) so problems can say so; the entry's id
    (None when its name is broken) and ``meta``, for checks that read Wippy's meta fields."""

    def __init__(
        self,
        loader: _Loader,
        file: str,
        folder: Path,
        namespace: str,
        label: str,
        entry_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.loader, self.file, self.folder = loader, file, folder
        self.namespace, self.label = namespace, label
        self.entry_id = entry_id
        self.meta: dict[str, Any] = meta or {}
        self.kind = ""  # the entry's kind, for notes
        self.path: list[str] = []

    def _where(self, field: str | None) -> str:
        return ".".join([*self.path, *filter(None, [field])])

    def problem(self, message: str, field: str | None = None) -> None:
        self.loader.report(self.file, self.label, self._where(field), message)

    def note(self, message: str, field: str | None = None) -> None:
        """A line of the load's warning about this entry (a field accepted, not applied)."""
        self.loader.note(self.entry_id, self.file, self.label, self._where(field), message)

    def soft_ref(self, field: str, target: str, kinds: tuple[str, ...] = ()) -> None:
        """A reference checked once every file is read: ``target`` must be defined (with one
        of ``kinds`` when given); a skipped target is fine, nothing here follows it."""
        if self.entry_id is not None:
            self.loader.soft_refs.append((self.entry_id, self._where(field), target, kinds))


def _sub(ctx: _Ctx, name: str | None, parse: Parser, raw: Any) -> Any:
    """Parse ``raw`` at field ``name`` (None: the current field); _INVALID when it was wrong."""
    if name is not None:
        ctx.path.append(name)
    try:
        return parse(ctx, raw)
    except _Bad as bad:
        ctx.problem(str(bad))
    except _Reported:
        pass
    finally:
        if name is not None:
            ctx.path.pop()
    return _INVALID


def _parse_fields(
    ctx: _Ctx,
    data: dict[Any, Any],
    fields: dict[str, _Field],
    owner: str,
    also: tuple[str, ...] = (),
) -> dict[str, Any] | None:
    """Parse ``data`` against ``fields``: a dict of values with defaults, or None on problems."""
    ok = True
    suggested = set()
    for key in data:
        if key not in fields:
            known = [*fields, *also]
            close = difflib.get_close_matches(str(key), known, n=1)
            suggested.update(close)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (fields: {', '.join(known)})"
            ctx.problem(f"unknown field for {owner}{hint}", field=str(key))
            ok = False
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        raw = data.get(name)
        if raw is None:  # absent or null: the default
            if spec.default is _REQUIRED:
                if name not in suggested:  # a typo of it was reported already
                    ctx.problem(f"missing (required for {owner})", field=name)
                ok = False
            else:
                values[name] = copy.copy(spec.default)
            continue
        values[name] = _sub(ctx, name, spec.parse, raw)
        ok = ok and values[name] is not _INVALID
    return values if ok else None


def _kept(values: dict[str, Any], fields: dict[str, _Field]) -> dict[str, Any]:
    """``values`` without the fields that are only checked (``keep=False``)."""
    return {k: v for k, v in values.items() if k not in fields or fields[k].keep}


def _checked(ctx: _Ctx, check: Callable[..., Any] | None, values: dict, data: dict) -> Any:
    """Run a cross-field check; raise _Reported if it found problems, else return its result."""
    before = len(ctx.loader.problems)
    result = check(ctx, values, data) if check else None
    if len(ctx.loader.problems) > before:
        raise _Reported
    return result


_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
_TYPE_NAMES |= {list: "a list", dict: "a mapping"}


def _expect(value: Any, types: type | tuple[type, ...], what: str) -> Any:
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        text = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise _Bad(
            f"expected {what}, got {_TYPE_NAMES.get(type(value), type(value).__name__)} {text}"
        )
    return value


def _seconds(value: float) -> str:
    return f"{value * 1000:g}ms" if 0 < value < 1 else f"{value:g}s"


def _in_range(
    value: float, lo: float, hi: float | None, show: Callable[[float], str] = str
) -> None:
    if value < lo or (hi is not None and value > hi):
        bounds = f"at least {show(lo)}" if hi is None else f"between {show(lo)} and {show(hi)}"
        raise _Bad(f"must be {bounds}, got {show(value)}")


def _int(lo: int, hi: int | None = None) -> Parser:
    def parse(ctx: _Ctx, raw: Any) -> int:
        _in_range(_expect(raw, int, "an integer"), lo, hi)
        return raw

    return parse


def _float(lo: float) -> Parser:
    def parse(ctx: _Ctx, raw: Any) -> float:
        _in_range(_expect(raw, (int, float), "a number"), lo, None)
        return float(raw)

    return parse


def _duration(lo: float = 0.0, hi: float | None = None) -> Parser:
    def parse(ctx: _Ctx, raw: Any) -> float:
        try:
            seconds = parse_duration(raw)
        except ValueError as exc:
            raise _Bad(str(exc)) from None
        _in_range(seconds, lo, hi, _seconds)
        return seconds

    return parse


def _bool(ctx: _Ctx, raw: Any) -> bool:
    return _expect(raw, bool, "true or false")


def _any(ctx: _Ctx, raw: Any) -> Any:
    return raw


def _expect_str(ctx: _Ctx, raw: Any) -> str:
    return _expect(raw, str, "a string")


def _text(pattern: re.Pattern[str] | None = None, what: str = "") -> Parser:
    def parse(ctx: _Ctx, raw: Any) -> str:
        _expect(raw, str, "a string")
        if not raw or (pattern is not None and not pattern.fullmatch(raw)):
            raise _Bad(f"invalid value '{raw}' (expected {what or 'a non-empty string'})")
        return raw

    return parse


def _choice(*options: str, upper: bool = False) -> Parser:
    def parse(ctx: _Ctx, raw: Any) -> str:
        value = _expect(raw, str, "a string")
        value = value.upper() if upper else value
        if value not in options:
            raise _Bad(f"invalid value '{raw}' (expected one of: {', '.join(options)})")
        return value

    return parse


def _error_kind(ctx: _Ctx, raw: Any) -> str:
    """An error kind as Wippy spells it ("Invalid") or by its constant's name ("INVALID")."""
    kind = kind_of(_expect(raw, str, "an error kind"))
    if kind is None:
        options = ", ".join(f"{name} ({value!r})" for name, value in KIND_NAMES.items())
        raise _Bad(f"unknown error kind '{raw}' (expected one of: {options})")
    return kind


def _lua_name(ctx: _Ctx, raw: Any) -> str:
    value = _text(_IDENT, "a Lua identifier")(ctx, raw)
    if value in _LUA_KEYWORDS:
        raise _Bad(f"'{value}' is a Lua keyword, not a usable name")
    return value


def _list(item: Parser, unique: bool = True) -> Parser:
    def parse(ctx: _Ctx, raw: Any) -> tuple[Any, ...]:
        values = [_sub(ctx, None, item, x) for x in _expect(raw, list, "a list")]
        ok = _INVALID not in values
        for i, value in enumerate(values):
            if unique and value is not _INVALID and value in values[:i]:
                ctx.problem(f"'{value}' is listed twice")
                ok = False
        if not ok:
            raise _Reported
        return tuple(values)

    return parse


def _map(key: re.Pattern[str], key_what: str, value: Parser) -> Parser:
    def parse(ctx: _Ctx, raw: Any) -> dict[str, Any]:
        out = {}
        for k, v in _expect(raw, dict, "a mapping").items():
            if not isinstance(k, str) or not key.fullmatch(k):
                ctx.problem(f"invalid key '{k}' (expected {key_what})")
                out[str(k)] = _INVALID
            else:
                out[k] = _sub(ctx, k, value, v)
        if _INVALID in out.values():
            raise _Reported
        return out

    return parse


def _block(cls: type, fields: dict[str, _Field], check: Callable[..., Any] | None = None) -> Parser:
    def parse(ctx: _Ctx, raw: Any) -> Any:
        data = _expect(raw, dict, "a mapping")
        values = _parse_fields(ctx, data, fields, f"'{'.'.join(ctx.path)}'")
        if values is None:
            raise _Reported
        _checked(ctx, check, values, data)
        return cls(**_kept(values, fields))

    return parse


def _settings(fields: dict[str, _Field]) -> Parser:
    """A block checked field by field and returned as a plain dict (with ``given``: the keys
    written), for Wippy blocks the kind's check maps or reports."""

    def parse(ctx: _Ctx, raw: Any) -> dict[str, Any]:
        data = _expect(raw, dict, "a mapping")
        values = _parse_fields(ctx, data, fields, f"'{'.'.join(ctx.path)}'")
        if values is None:
            raise _Reported
        return {"given": tuple(k for k in fields if data.get(k) is not None), **values}

    return parse


def _mapping(ctx: _Ctx, raw: Any) -> dict[Any, Any]:
    return _expect(raw, dict, "a mapping")


def _scalar_map(ctx: _Ctx, raw: Any) -> dict[str, Any]:
    """String keys to scalar values (Wippy's middleware ``options``)."""
    out = _expect(raw, dict, "a mapping")
    for key, value in out.items():
        if not isinstance(key, str) or not key:
            ctx.problem(f"invalid key {key!r} (expected a string like 'cors.allow.origins')")
        elif isinstance(value, (dict, list)):
            ctx.problem(f"expected a string, number or boolean, got a {type(value).__name__}", key)
    if any(not isinstance(k, str) or not k or isinstance(v, (dict, list)) for k, v in out.items()):
        raise _Reported
    return out


def _ref(ctx: _Ctx, raw: Any) -> str:
    try:
        return resolve_ref(_expect(raw, str, "an entry id"), ctx.namespace)
    except ValueError as exc:
        raise _Bad(str(exc)) from None


@dataclass(frozen=True, slots=True)
class _Source:
    written: str
    path: Path
    name: str
    code: str


def _source(ctx: _Ctx, raw: Any) -> _Source:
    written = _expect(raw, str, "a string like 'file://x.lua'")
    rel = written.removeprefix("file://")
    if rel == written or not rel:
        raise _Bad(
            f"invalid source '{written}' (expected 'file://<path relative to {INDEX_FILE}>')"
        )
    if rel.startswith("/"):
        raise _Bad(f"source path '{rel}' must be relative to the folder of {INDEX_FILE}")
    root = ctx.loader.root
    path = (ctx.folder / rel).resolve()
    if not path.is_relative_to(root):
        raise _Bad(f"file '{rel}' is outside the application folder")
    if not path.is_file():
        raise _Bad(f"file '{rel}' not found" if not path.exists() else f"'{rel}' is not a file")
    try:
        code = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Bad(f"file '{rel}' is not valid UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise _Bad(f"file '{rel}' cannot be read: {exc.strerror}") from None
    return _Source(written, path, path.relative_to(root).as_posix(), code)


def _module(ctx: _Ctx, raw: Any) -> str:
    # Wippy's globals (process, channel) may be listed, as Wippy's own manifests do; a Wippy
    # module the kit lacks is accepted (reported by _check_code, refused at require).
    name = _expect(raw, str, "a module name")
    if name not in WIPPY_MODULES and name not in MODULE_NAMES and name not in GLOBAL_MODULES:
        hint = _did_you_mean(name, WIPPY_MODULES | MODULE_NAMES)
        raise _Bad(
            f"unknown module '{name}'{hint} (this kit provides: {', '.join(sorted(MODULE_NAMES))})"
        )
    return name


def _path_shape(path: str) -> tuple[tuple[str, ...], str | None]:
    """Check an endpoint path template; return its parameter names and the greedy one."""
    if not path.startswith("/"):
        raise _Bad(f"path '{path}' must start with '/'")
    names: list[str] = []
    greedy = None
    segments = path[1:].split("/") if path != "/" else []
    for i, segment in enumerate(segments):
        param = _PATH_PARAM.fullmatch(segment)
        if param is None and not _PATH_LITERAL.fullmatch(segment):
            raise _Bad(
                f"invalid segment '{segment}' in path '{path}' (expected a literal, "
                "'{name}' or a final '{name...}'; no empty segments)"
            )
        if param is None:
            continue
        if param[1] in names:
            raise _Bad(f"parameter '{param[1]}' appears twice in path '{path}'")
        if param[2]:
            if i != len(segments) - 1:
                raise _Bad(f"'{segment}' must be the last segment of path '{path}'")
            greedy = param[1]
        names.append(param[1])
    return tuple(names), greedy


def _path(ctx: _Ctx, raw: Any) -> str:
    # The shape is checked by _check_endpoint: a router's endpoint may end in '/'.
    path = _expect(raw, str, "a string")
    if not path.startswith("/"):
        raise _Bad(f"path '{path}' must start with '/'")
    return path


def _route_of(prefix: str, path: str) -> str:
    """A router's endpoint's route, as the Wippy runtime joins them (the prefix without its
    trailing '/', then the path), and without a trailing '/': API Gateway routes ``/api`` and
    Wippy's ``/api/`` serve the same requests here."""
    route = prefix.rstrip("/") + path
    return route.rstrip("/") or "/"


def _https_url(ctx: _Ctx, raw: Any) -> str:
    url = urlparse(_expect(raw, str, "a string"))
    if url.scheme != "https" or not url.netloc:
        raise _Bad(f"invalid issuer '{raw}' (expected an https:// URL)")
    return raw


def _audience(ctx: _Ctx, raw: Any) -> tuple[str, ...]:
    values = _list(_text())(ctx, [raw] if isinstance(raw, str) else raw)
    if not values:
        raise _Bad("expected at least one audience")
    return values


# -- the kinds -----------------------------------------------------------------------------------


def _not_before(ctx: _Ctx, values: dict, low: str, high: str) -> None:
    if values[high] is not None and values[high] < values[low]:
        ctx.problem(
            f"{high} ({_seconds(values[high])}) must be at least {low} ({_seconds(values[low])})",
            field=high,
        )


_RETRY = _block(
    RetryPolicy,
    {
        "initial_interval": _Field(_duration(0.001), 1.0),
        "backoff_coefficient": _Field(_float(1.0), 2.0),
        "maximum_interval": _Field(_duration(0.001), None),
        "maximum_attempts": _Field(_int(0), 0),
        "non_retryable": _Field(_list(_error_kind), ()),
    },
    lambda ctx, v, data: _not_before(ctx, v, "initial_interval", "maximum_interval"),
)
_RESTART = _block(
    RestartPolicy,
    {
        "type": _Field(_choice("permanent", "transient", "temporary"), "permanent"),
        "max_attempts": _Field(_int(0), 0),
        "initial_delay": _Field(_duration(), 1.0),
        "max_delay": _Field(_duration(), 90.0),
        "backoff_factor": _Field(_float(1.0), 2.0),
        "jitter": _Field(_float(0.0), None, keep=False),  # Wippy's; reported by _lifecycle
    },
    lambda ctx, v, data: _not_before(ctx, v, "initial_delay", "max_delay"),
)
_LIFECYCLE_FIELDS = {
    "auto_start": _Field(_bool, False),
    "restart": _Field(_RESTART, RestartPolicy()),
    "start_timeout": _Field(_duration(), None),
    "stop_timeout": _Field(_duration(), None),
    "stable_threshold": _Field(_duration(), None),
    "depends_on": _Field(_list(_ref), ()),
    "requires": _Field(_list(_ref), ()),
    "startup": _Field(_choice("required", "optional"), "required"),
    "security": _Field(_mapping, None),
}
#: What a service's Wippy lifecycle settings the kit does not apply would have done.
_SERVICE_NOT_APPLIED = {
    "start_timeout": "there is no start deadline here (a start is one queued message)",
    "stop_timeout": "there is no graceful-stop deadline here",
    "stable_threshold": "a run that stays up does not reset the restart count here",
    "depends_on": "services start together on deploy, in no set order",
    "requires": "services start together on deploy, in no set order",
    "startup": "a service that fails to start never fails the deploy here",
    "security": "the security module is not provided by this kit",
}


def _lifecycle(service: bool) -> Parser:
    """Wippy's ``lifecycle`` block. A service's auto_start and restart are applied; on any
    other kind nothing is (everything is deployed together and always up), and what was
    written beyond ``auto_start: true`` is reported."""

    def parse(ctx: _Ctx, raw: Any) -> Lifecycle:
        data = _expect(raw, dict, "a mapping")
        values = _parse_fields(ctx, data, _LIFECYCLE_FIELDS, "'lifecycle'")
        if values is None:
            raise _Reported
        for name in ("depends_on", "requires"):
            for target in values[name]:
                ctx.soft_ref(name, target)
        given = [k for k in _LIFECYCLE_FIELDS if data.get(k) not in (None, [], {})]
        restart = data.get("restart")
        if service:
            for name in given:
                # An optional startup is what every start is here.
                if name in _SERVICE_NOT_APPLIED and data[name] != "optional":
                    ctx.note(f"not applied: {_SERVICE_NOT_APPLIED[name]}", name)
            if isinstance(restart, dict) and restart.get("jitter") is not None:
                ctx.note("not applied: restart delays have no jitter here", "restart.jitter")
        else:
            # auto_start: true and a start order hold anyway: everything is deployed together.
            ignored = [
                k
                for k in given
                if k not in ("auto_start", "depends_on", "requires") or values[k] is False
            ]
            if ignored:
                ctx.note(
                    f"{', '.join(ignored)}: ignored: a {ctx.kind} is deployed with the "
                    "application and always up; only process.service entries are started "
                    "and restarted"
                )
        return Lifecycle(auto_start=values["auto_start"], restart=values["restart"])

    return parse


_LIFECYCLE = _Field(_lifecycle(service=False), None, keep=False)
_CODE = {
    "source": _Field(_source),
    "modules": _Field(_list(_module), ()),
    "imports": _Field(_map(_IDENT, "a Lua identifier", _ref), {}),
    "lifecycle": _LIFECYCLE,
    "security": _Field(_list(_mapping), None, keep=False),  # Wippy's permissions of the entry
}
_ENV = _Field(_map(_ENV_KEY, "an upper-case name like API_URL", _text(what="a string")), {})
_MAX_CONCURRENCY = _Field(_int(2, 1000), None)


def _retention(ctx: _Ctx, raw: Any) -> float:
    """A host's ``retention``: a duration of at least an hour, or 0 (kept for good)."""
    try:
        seconds = parse_duration(raw)
    except ValueError as exc:
        raise _Bad(str(exc)) from None
    if seconds != 0:
        _in_range(seconds, MIN_RETENTION, None, _seconds)
    return seconds


_RETENTION = _Field(_retention, DEFAULT_RETENTION)
_POOL = _Field(
    _settings(
        {
            "type": _Field(_choice("inline", "lazy", "static", "adaptive"), None),
            "workers": _Field(_int(1), None),
            "size": _Field(_int(1), None),
            "buffer": _Field(_int(1), None),
            "max_size": _Field(_int(1), None),
        }
    ),
    None,
    keep=False,
)
_WORKER_KINDS = ("temporal.worker", "workflow.host")


def _scalar(ctx: _Ctx, raw: Any) -> Any:
    return _expect(raw, (str, int, float, bool), "a string, number or boolean")


def _clamped_concurrency(ctx: _Ctx, value: int, field: str, what: str) -> int:
    """Wippy's worker count as the kit's ``max_concurrency`` (an SQS event source's maximum
    concurrency, 2 to 1000), with a note when it had to change."""
    low, high = 2, 1000
    cap = min(max(value, low), high)
    if cap != value:
        ctx.note(
            f"{value} {what} become max_concurrency {cap}: an SQS event source runs "
            f"{low} to {high} Lambdas at once",
            field,
        )
    return cap


def _temporal_meta(ctx: _Ctx, role: str) -> dict[str, Any] | None:
    """Wippy's ``meta.temporal.<role>`` (``workflow`` or ``activity``) checked, its worker a
    reference checked once every file is read; None when the entry has none."""
    temporal = ctx.meta.get("temporal")
    if temporal is None:
        return None
    if not isinstance(temporal, dict):
        ctx.problem("expected a mapping", "meta.temporal")
        return None
    block = temporal.get(role)
    if block is None:
        return None
    extra = (
        {"name": _Field(_text(), None)} if role == "workflow" else {"local": _Field(_bool, False)}
    )
    fields = {"worker": _Field(_ref), **extra}
    ctx.path += ["meta", "temporal", role]
    try:
        if not isinstance(block, dict):
            ctx.problem("expected a mapping with worker")
            return None
        values = _parse_fields(ctx, block, fields, f"'meta.temporal.{role}'")
        if values is not None:
            ctx.soft_ref("worker", values["worker"], _WORKER_KINDS)
        return values
    finally:
        del ctx.path[-3:]


def _check_code(ctx: _Ctx, values: dict, data: dict) -> None:
    if values["security"]:
        ctx.note("ignored: the security module is not provided by this kit", "security")
    for alias in values["imports"]:
        if alias in values["modules"]:
            ctx.problem(f"'{alias}' is both an import alias and a listed module", field="imports")
    if "os" in values["modules"]:
        ctx.note(
            "'os' is the os global here (time, clock, date); require('os') is refused",
            field="modules",
        )
    missing = [m for m in values["modules"] if m in unavailable_modules()]
    if missing:
        them = "it" if len(missing) == 1 else "them"
        ctx.note(
            f"{', '.join(missing)}: not available in this kit yet; require() of {them} fails "
            "at the call",
            field="modules",
        )


def _check_function(ctx: _Ctx, values: dict, data: dict) -> dict[str, Any]:
    _check_code(ctx, values, data)
    if values["pool"] is not None:
        ctx.note(
            "ignored: a Lambda instance runs one call at a time and Lambda adds instances",
            "pool",
        )
    # Any function is an activity here; the block only says where it runs.
    registered = _temporal_meta(ctx, "activity")
    if registered is None or "local" not in (ctx.meta["temporal"].get("activity") or {}):
        return {}
    return {"activity_local": bool(registered["local"])}


def _check_process(ctx: _Ctx, values: dict, data: dict) -> None:
    _check_code(ctx, values, data)
    if _temporal_meta(ctx, "activity") is not None:
        ctx.note(
            "ignored: a process.lua cannot be a workflow activity here (a workflow calls "
            "function.lua entries)",
            "meta.temporal.activity",
        )


def _check_workflow(ctx: _Ctx, values: dict, data: dict) -> dict[str, Any]:
    _check_code(ctx, values, data)
    _check_requires(ctx, values)
    registered = _temporal_meta(ctx, "workflow")
    if registered is None:
        return {}
    if registered["name"] is not None:
        ctx.note(
            "ignored: a workflow is started by its entry id here", "meta.temporal.workflow.name"
        )
    return {"worker": registered["worker"]}


def _check_requires(ctx: _Ctx, values: dict) -> None:
    """A workflow's ``require`` of a kit module its ``modules:`` does not list fails the load.

    At run time that require fails the step, the driver retries it and the run parks: found
    here instead, where a function's would fail its call. Read from the source's tokens
    (``require("name")`` / ``require "name"``, comments and strings skipped); a name that is
    an import alias, a global (``process``, ``errors``, ...) or no kit module is left to the
    call."""
    source = values.get("source")
    if not isinstance(source, _Source):
        return
    listed = set(values["modules"]) | set(values["imports"])
    lexed = lex(source.code)
    tokens = lexed.tokens
    seen: set[str] = set()
    for i, tok in enumerate(tokens):
        if tok.kind != NAME or tok.text != "require":
            continue
        if i and tokens[i - 1].text in (".", ":"):
            continue  # a method or field named require
        arg = tokens[i + 2] if tokens[i + 1].text == "(" else tokens[i + 1]
        if arg.kind != STRING or arg.text[:1] not in ("'", '"'):
            continue
        name = arg.text[1:-1]
        if name in seen or name in listed or name in GLOBAL_MODULES or name not in MODULE_NAMES:
            continue
        seen.add(name)
        ctx.problem(
            f"{source.name}:{lexed.line(tok.start)} requires '{name}', which is not listed "
            f"(add {name} to modules:; a workflow's step would fail on it and park the run)",
            "modules",
        )


def _check_process_host(ctx: _Ctx, values: dict, data: dict) -> None:
    host = values["host"]
    if host is not None:
        if "workers" in host["given"]:
            if data.get("max_concurrency") is not None:
                ctx.problem(
                    "give one of host.workers (Wippy's) and max_concurrency", "host.workers"
                )
            else:
                values["max_concurrency"] = _clamped_concurrency(
                    ctx, host["workers"], "host.workers", "workers"
                )
        ignored = [k for k in host["given"] if k != "workers"]
        if ignored:
            ctx.note(
                f"{', '.join(ignored)}: ignored: an SQS queue and its worker Lambda have no "
                "such capacity to set",
                "host",
            )
    # SQS would hand a message to a second worker while the first is still on it.
    if values["visibility_timeout"] < values["lambda_timeout"]:
        ctx.problem(
            f"visibility_timeout ({_seconds(values['visibility_timeout'])}) must be at least "
            f"lambda_timeout ({_seconds(values['lambda_timeout'])})",
            field="visibility_timeout",
        )


def _check_temporal_worker(ctx: _Ctx, values: dict, data: dict) -> None:
    options = values["worker_options"]
    if options is None:
        return
    given = list(options["given"])
    size = "max_concurrent_activity_execution_size"
    if size in given:
        given.remove(size)
        if data.get("max_concurrency") is not None:
            ctx.problem(f"give one of worker_options.{size} and max_concurrency", "worker_options")
        else:
            values["max_concurrency"] = _clamped_concurrency(
                ctx, options[size], f"worker_options.{size}", "concurrent activities"
            )
    if given:
        ctx.note(
            f"{', '.join(given)}: not applied: there is no Temporal worker here (the host's "
            "Lambdas poll no task queue)",
            "worker_options",
        )


def _check_temporal_client(ctx: _Ctx, values: dict, data: dict) -> dict[str, Any]:
    auth = values["auth"]
    if auth is not None and auth.get("type") not in (None, "none", "api_key", "mtls"):
        ctx.problem(
            f"invalid value {auth.get('type')!r} (expected one of: none, api_key, mtls)",
            "auth.type",
        )
    ctx.note(
        "accepted, not used: there is no Temporal server here (workflows on its workers run "
        "on Step Functions and DynamoDB)"
    )
    return {"temporal_namespace": values["namespace"]}


def _check_http_service(ctx: _Ctx, values: dict, data: dict) -> dict[str, Any]:
    addr = values["addr"]
    match = _ADDR.fullmatch(addr)
    port = int(match[1]) if match else -1
    if not 0 <= port <= 65535:
        ctx.problem(f"invalid address '{addr}' (expected ':8080' or 'host:8080')", "addr")
        return {}
    ctx.note(
        f"'{addr}' is not listened on: on AWS the API is API Gateway's URL (the stack's "
        "ApiUrl output), and `units dev` serves on its --port (default 8787)",
        "addr",
    )
    reasons = {
        "timeouts": "API Gateway ends a request after 30 s; the function's deploy.timeout "
        "bounds it",
        "host": "there is no message relay to size (WebSockets are not supported)",
        "tls": "API Gateway terminates TLS",
        "network": "network overlays are not available on Lambda",
    }
    for name, reason in reasons.items():
        if data.get(name) is not None:
            ctx.note(f"ignored: {reason}", name)
    if values["network"] is not None:
        ctx.soft_ref("network", values["network"])
    return {"port": port}


def _middleware(ctx: _Ctx, raw: Any) -> str:
    name = _expect(raw, str, "a middleware name")
    if name not in MIDDLEWARE:
        hint = _did_you_mean(name, MIDDLEWARE)
        raise _Bad(f"unknown middleware '{name}'{hint} (Wippy's: {', '.join(MIDDLEWARE)})")
    return name


def _check_auth(ctx: _Ctx, values: dict) -> None:
    if values["auth"] == "jwt" and values["jwt"] is None:
        ctx.problem("missing (required when auth is jwt)", field="jwt")
    if values["auth"] != "jwt" and values["jwt"] is not None:
        ctx.problem(f"only allowed with auth: jwt (auth is {values['auth'] or 'iam'})", field="jwt")


def _meta_ref(ctx: _Ctx, key: str, required: str | None) -> Any:
    """``meta.<key>`` as a full id; None when absent (a problem saying ``required`` if given)."""
    raw = ctx.meta.get(key)
    if raw is None:
        if required:
            ctx.problem(f"missing ({required})", f"meta.{key}")
        return None
    return _sub(ctx, f"meta.{key}", _ref, raw)


def _check_router(ctx: _Ctx, values: dict, data: dict) -> dict[str, Any]:
    _check_auth(ctx, values)
    prefix = values["prefix"]
    if prefix and not prefix.startswith("/"):
        ctx.problem(f"prefix '{prefix}' must start with '/'", "prefix")
    elif prefix.rstrip("/"):
        try:
            _path_shape(prefix.rstrip("/"))
        except _Bad as bad:
            ctx.problem(str(bad), "prefix")
    for field_name in ("middleware", "post_middleware"):
        for name in values[field_name]:
            if name in MIDDLEWARE_NOT_APPLIED:
                ctx.note(f"'{name}' not applied: {MIDDLEWARE_NOT_APPLIED[name]}", field_name)
    if "cors" in values["post_middleware"]:
        # Wippy's preflight answers come from pre-match middleware only.
        ctx.note(
            "'cors' not applied: it answers preflights as pre-match middleware; list it in "
            "middleware",
            "post_middleware",
        )
    if values["auth"] is None:
        # Wippy serves a router's endpoints to anyone unless a middleware checks tokens.
        ctx.note(
            "not given: endpoints that set none are IAM-authorized on AWS (the kit's default); "
            "give the router auth: none for a public API, or jwt",
            "auth",
        )
    return {
        "server": _meta_ref(ctx, "server", "a router names its http.service here"),
        "cors": _router_cors(ctx, values),
    }


def _router_cors(ctx: _Ctx, values: dict) -> CorsPolicy | None:
    """The CORS configuration a router's ``cors`` middleware asks for, from its ``options``."""
    options = values["options"] or {}
    if "cors" not in values["middleware"]:
        given = cors_config.cors_options(options)
        if given:
            ctx.note(
                f"{', '.join(given)}: not applied: the router does not list cors in middleware",
                "options",
            )
        return None
    parsed = cors_config.parse_options(options)
    for key, message in parsed.problems:
        ctx.problem(message, f"options.{key}")
    for key, message in parsed.notes:
        ctx.note(message, f"options.{key}")
    return parsed.policy


def _check_service(ctx: _Ctx, values: dict, data: dict) -> None:
    if values["process"] is None and not values["children"]:
        ctx.problem("missing (required unless children are given)", field="process")
    if values["process"] is not None and values["host"] is None:
        ctx.problem("missing (required with process)", field="host")
    if values["process"] is None and values["host"] is not None and values["children"]:
        ctx.problem("only used together with process", field="host")
    for name in ("strategy", "intensity"):
        if name in data and not values["children"]:
            ctx.problem("only meaningful with children", field=name)
    if values["input"] is not None:
        if data.get("args") is not None:
            ctx.problem("give one of input (Wippy's name) and args", field="args")
        values["args"] = values["input"]


def _check_endpoint(ctx: _Ctx, values: dict, data: dict) -> dict[str, Any]:
    if values["method"] == "TRACE":
        ctx.problem("TRACE cannot be routed: API Gateway HTTP APIs do not take it", "method")
    for name in ("middleware", "post_middleware"):
        if values[name]:
            # Wippy's endpoints have no such field: its runtime passes over it as well.
            ctx.note("ignored: middleware is applied by a router, not an endpoint", name)
    _check_auth(ctx, values)
    router = _meta_ref(ctx, "router", None)
    path = values["path"] if router is None else _route_of("", values["path"])
    try:
        params, greedy = _path_shape(path)
    except _Bad as bad:
        ctx.problem(str(bad), "path")
        return {}
    if router is None:
        values["auth"] = values["auth"] or "iam"
    # With a router, the route and the auth are settled once every router is read.
    return {"params": params, "greedy": greedy, "router": router}


#: Wippy's kv namespace rule (``en/system/store.md``).
_KV_NAMESPACE = re.compile(r"[a-z][a-z0-9._-]*")
#: S3's bucket naming rules (general purpose buckets), for a name written as it is.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_ENV_PLACEHOLDER = re.compile(r"\$\{env:[A-Za-z_][A-Za-z0-9_]*\}")


def _check_store(ctx: _Ctx, values: dict, data: dict) -> dict[str, Any]:
    if ctx.kind == "store.memory":
        # 0 means the default, as in Wippy.
        return {"partition": f"m#{ctx.entry_id}", "max_size": values["max_size"] or 10000}
    namespace = values["namespace"]
    if namespace is None:
        ctx.problem(f"missing (required for {ctx.kind})", "namespace")
        return {}
    if not _KV_NAMESPACE.fullmatch(namespace):
        ctx.problem(
            f"invalid value '{namespace}' (expected a namespace matching ^[a-z][a-z0-9._-]*$)",
            "namespace",
        )
        return {}
    return {"partition": f"kv#{namespace}", "kv_namespace": namespace}


def _check_aws_config(ctx: _Ctx, values: dict, data: dict) -> dict[str, Any]:
    for name in (
        "access_key_id",
        "secret_access_key",
        "access_key_id_env",
        "secret_access_key_env",
    ):
        if values[name] is not None:
            ctx.note(
                "accepted, not used: the Lambda's role (locally, boto3's default chain) signs "
                "every request; no key is read from the manifest",
                name,
            )
    if values["region"] is None and values["region_env"] is None:
        ctx.problem("missing (required for config.aws)", "region")
    elif values["region"] is None:
        ctx.note(
            "not applied (an env.variable reference): the Lambda's own region is used", "region_env"
        )
    return {}


def _check_s3(ctx: _Ctx, values: dict, data: dict) -> None:
    bucket = values["bucket"]
    if bucket is not None and not _ENV_PLACEHOLDER.search(bucket) and not _BUCKET.fullmatch(bucket):
        ctx.problem(
            f"invalid bucket name '{bucket}' (3-63 characters: lower-case letters, digits, '.' "
            "and '-', starting and ending with a letter or digit)",
            "bucket",
        )
    endpoint = values["endpoint"]
    if endpoint is not None and not _ENV_PLACEHOLDER.search(endpoint):
        url = urlparse(endpoint)
        if url.scheme not in ("http", "https") or not url.netloc:
            ctx.problem(f"invalid endpoint '{endpoint}' (expected an http(s) URL)", "endpoint")


#: Octal permission bits as Wippy reads them (``fmt.Sscanf("%o")``): "0755", "755", "0o755".
_OCTAL_MODE = re.compile(r"(?:0[oO]?)?([0-7]{1,4})")


def _fs_mode(ctx: _Ctx, raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        # YAML reads an unquoted 0755 as the number 493, and 755 as seven hundred and fifty-five:
        # which was meant cannot be told, so only Wippy's form (a string) is taken.
        raise _Bad(f'invalid value {raw} (write the mode as a quoted octal string, e.g. "0755")')
    value = _expect(raw, str, "a string")
    match = _OCTAL_MODE.fullmatch(value.strip())
    if match is None or int(match[1], 8) > 0o777:
        raise _Bad(f"invalid value '{raw}' (expected octal permission bits, e.g. \"0755\")")
    mode = int(match[1], 8)
    # Wippy adds the execute bits when all read bits are set and no execute bit is.
    if mode & 0o444 == 0o444 and mode & 0o111 == 0:
        mode |= 0o111
    return mode


def _check_fs_directory(ctx: _Ctx, values: dict, data: dict) -> None:
    if "\0" in values["directory"]:
        ctx.problem("invalid value (the directory contains a NUL byte)", "directory")


_SECRET_ARN = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+"
)
_PARAMETER_ARN = re.compile(r"arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9/_.-]+")
_SQL_POOL = _Field(
    _settings(
        {
            "max_open": _Field(_int(0), 0),
            "max_idle": _Field(_int(0), 0),
            "max_lifetime": _Field(_duration(), 3600.0),
        }
    ),
    None,
    keep=False,
)
_SQL_OPTIONS = _Field(_scalar_map, {})
_PG_FIELDS = ("host", "port", "database", "username", "password")


def _check_sqlite(ctx: _Ctx, values: dict, data: dict) -> dict[str, Any]:
    pool = values["pool"] or {}
    for name in ("max_open", "max_idle"):
        if name in pool.get("given", ()):
            ctx.note("accepted, not used: SQLite has one connection, as in Wippy", f"pool.{name}")
    if values["file"] is None:
        ctx.problem("missing (required for db.sql.sqlite: a file path or ':memory:')", "file")
    if values["options"]:
        ctx.note("accepted, not used: SQLite ignores options, as in Wippy", "options")
    return {"path": values["file"]}


def _check_postgres(ctx: _Ctx, values: dict, data: dict) -> dict[str, Any]:
    for name in ("host", "port", "database", "username", "password"):
        if values[f"{name}_env"] is not None:
            ctx.problem(
                f"the deprecated {name}_env form is not supported: write "
                f"{name}: ${{env:NAME}} (the Lambda's environment variable NAME)",
                f"{name}_env",
            )
    if values["database"] is None:
        ctx.problem("missing (required for db.sql.postgres)", "database")
    given = [n for n in ("password", "password_secret", "password_parameter") if values[n]]
    if len(given) > 1:
        ctx.problem(f"give one of password, password_secret, password_parameter, not {given}")
    secret, parameter = values["password_secret"], values["password_parameter"]
    if secret is not None and not _SECRET_ARN.fullmatch(secret):
        ctx.problem(
            f"invalid value '{secret}' (expected a Secrets Manager secret ARN, "
            "arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)",
            "password_secret",
        )
    if parameter is not None and not _PARAMETER_ARN.fullmatch(parameter):
        ctx.problem(
            f"invalid value '{parameter}' (expected an SSM parameter ARN, "
            "arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)",
            "password_parameter",
        )
    port = values["port"]
    if isinstance(port, int) and not 1 <= port <= 65535:
        ctx.problem(f"must be between 1 and 65535, got {port}", "port")
    pool = values["pool"] or {}
    for name in ("max_idle", "max_lifetime"):
        if name in pool.get("given", ()):
            ctx.note(
                "accepted, not applied: idle connections live as long as the container",
                f"pool.{name}",
            )
    return {"max_open": pool.get("max_open", 0)}


def _check_mysql(ctx: _Ctx, values: dict, data: dict) -> None:
    ctx.problem(
        "db.sql.mysql is not supported by this kit: the maintained Python MySQL drivers "
        "interpolate parameters into the SQL text instead of binding them; use "
        "db.sql.postgres or db.sql.sqlite"
    )


def _port(ctx: _Ctx, raw: Any) -> int | str:
    value = _expect(raw, (int, str), "a port number")
    if isinstance(value, str) and not (_ENV_PLACEHOLDER.fullmatch(value) or value.isdigit()):
        raise _Bad(f"invalid value '{value}' (expected a port number or ${{env:NAME}})")
    return int(value) if isinstance(value, str) and value.isdigit() else value


#: SQS queue names: 1-80 letters, digits, '-' and '_' (a FIFO queue's ending in ".fifo").
_SQS_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}(\.fifo)?|[A-Za-z0-9_-]{1,80}")
#: The payload codecs Wippy names for queue bodies; only JSON fits an SQS body (text).
_QUEUE_CODECS = ("json/plain", "application/msgpack")
_AMQP_FIELDS = (
    "url",
    "vhost",
    "connection_name",
    "auth_mechanism",
    "heartbeat",
    "connection_timeout",
    "reconnect_delay",
    "reconnect_max_delay",
    "default_message_ttl",
    "default_queue_ttl",
    "default_queue_expiry",
    "prefetch_count",
    "frame_size",
    "channel_max",
    "tls",
)


def _check_amqp(ctx: _Ctx, values: dict, data: dict) -> None:
    ctx.problem(
        "queue.driver.amqp is not provided: there is no AMQP broker on AWS serverless; use "
        "queue.driver.sqs (or queue.driver.memory, an SQS queue here too) for the queues of "
        "this driver",
        "kind",
    )


def _check_queue_driver(ctx: _Ctx, values: dict, data: dict) -> dict[str, Any]:
    if ctx.kind == "queue.driver.sqs":
        if values["config"] is None:
            ctx.problem("missing (required for queue.driver.sqs)", "config")
        for name in ("endpoint", "disable_message_checksum_validation", "use_fips"):
            if values[name] is not None:
                ctx.note(
                    "accepted, not applied: the queues are the stack's own SQS queues, reached "
                    "at the Lambda's regional endpoint",
                    name,
                )
        if values["use_dual_stack"] is not None:
            ctx.note("accepted, not applied: the Lambda reaches SQS over IPv4", "use_dual_stack")
    return {}


def _check_queue(ctx: _Ctx, values: dict, data: dict) -> dict[str, Any]:
    name = values["queue_name"]
    if name is not None and not _SQS_NAME.fullmatch(name):
        ctx.problem(
            f"invalid SQS queue name '{name}' (1-80 letters, digits, '-' and '_'; a FIFO "
            "queue's name ends in '.fifo')",
            "queue_name",
        )
    if values["codec"] == "application/msgpack":
        ctx.problem(
            "application/msgpack is not supported: an SQS message body is text, so bodies "
            "are JSON here (codec: json/plain, the default)",
            "codec",
        )
    options = values["driver_options"] or {}
    extra: dict[str, Any] = {}
    for driver, bag in options.items():
        if not isinstance(bag, dict):
            ctx.problem(f"expected a mapping of {driver} settings", f"driver_options.{driver}")
            continue
        if driver == "sqs":
            for key, value in bag.items():
                if key != "default_visibility_timeout":
                    ctx.problem(
                        "unknown SQS queue option (expected default_visibility_timeout)",
                        f"driver_options.sqs.{key}",
                    )
                elif (
                    isinstance(value, bool)
                    or not isinstance(value, int)
                    or not (0 < value <= 43200)
                ):
                    ctx.problem(
                        f"must be a number of seconds between 1 and 43200, got {value!r}",
                        f"driver_options.sqs.{key}",
                    )
                else:
                    extra["visibility_timeout"] = value
        elif driver == "memory":
            ctx.note(
                "accepted, not applied: the queue is an SQS queue, which has no length bound",
                "driver_options.memory",
            )
        # Other drivers' sub-bags are dormant, as in Wippy.
    dead = values["dead_letter"]
    if dead is not None:
        extra["dead_letter_queue"] = dead["queue"]
        extra["max_attempts"] = dead["max_attempts"]
        if dead["queue"] == ctx.entry_id:
            ctx.problem("a queue cannot be its own dead-letter queue", "dead_letter.queue")
        elif dead["queue"] is not None:
            ctx.soft_ref("dead_letter.queue", dead["queue"], ("queue.queue",))
    return extra


def _check_consumer(ctx: _Ctx, values: dict, data: dict) -> None:
    if values["auto_ack"] is not None:
        ctx.note(
            "accepted, not applied (as by Wippy's SQS driver): a message is deleted when the "
            "function succeeds and redelivered when it fails",
            "auto_ack",
        )
    for driver, bag in (values["driver_options"] or {}).items():
        if driver == "sqs" and isinstance(bag, dict) and bag:
            ctx.note(
                "accepted, not applied: Lambda's event source mapping long-polls the queue, "
                "and a batch stays invisible for the queue's visibility timeout",
                "driver_options.sqs",
            )


def _dead_letter_queue(ctx: _Ctx, raw: Any) -> str:
    return _ref(ctx, raw)


def _r(attr: str, *kinds: str, label: str | None = None) -> tuple[str, tuple[str, ...], str]:
    """A reference field of a kind: the entry attribute, the kinds its targets may have, and
    the field name problems show."""
    return (attr, kinds, label or attr)


@dataclass(frozen=True, slots=True)
class _Kind:
    cls: type[Entry]
    fields: dict[str, _Field]
    refs: tuple[tuple[str, tuple[str, ...], str], ...] = ()  # see _r
    check: Callable[..., Any] | None = None


#: Wippy's imports take any Lua entry: ``require`` hands out what its chunk returned.
_IMPORTS = (_r("imports", "library.lua", "function.lua", "process.lua", "workflow.lua"),)
_WORKFLOW_HOST_FIELDS = {
    "activity_batch_size": _Field(_int(1, 10), 10),
    "activity_max_receive_count": _Field(_int(1, 1000), 5),
    "step_timeout": _Field(_duration(1, 900), 60.0),
    "max_concurrency": _MAX_CONCURRENCY,
    "retention": _RETENTION,
    "lifecycle": _LIFECYCLE,
}
_WORKER_OPTIONS = _settings(
    {
        "max_concurrent_activity_execution_size": _Field(_int(1), None),
        **{
            name: _Field(_scalar, None)
            for name in (
                "identity",
                "default_versioning_behavior",
                "build_id",
                "build_id_env",
                "deployment_name",
                "deadlock_detection_timeout",
                "max_concurrent_activity_task_pollers",
                "worker_activities_per_second",
                "worker_local_activities_per_second",
                "task_queue_activities_per_second",
                "sticky_schedule_to_start_timeout",
                "worker_stop_timeout",
                "max_heartbeat_throttle_interval",
                "default_heartbeat_throttle_interval",
                "max_concurrent_workflow_task_execution_size",
                "max_concurrent_local_activity_execution_size",
                "max_concurrent_session_execution_size",
                "max_concurrent_eager_activity_execution_size",
                "max_concurrent_workflow_task_pollers",
                "disable_registration_aliasing",
                "disable_eager_activities",
                "local_activity_worker_only",
                "disable_workflow_worker",
                "enable_session_worker",
                "use_versioning",
                "enable_logging_in_replay",
            )
        },
    }
)
_JWT = _Field(_block(Jwt, {"issuer": _Field(_https_url), "audience": _Field(_audience)}), None)
_AUTH = _Field(_choice("iam", "none", "jwt"), None)
_KINDS: dict[str, _Kind] = {
    "function.lua": _Kind(
        FunctionEntry,
        {
            **_CODE,
            "method": _Field(_lua_name, "handler"),
            "env": _ENV,
            "deploy": _Field(
                _block(
                    Deploy,
                    {
                        "memory": _Field(_int(128, 10240), 512),
                        "timeout": _Field(_duration(1, 900), 30.0),
                        "remote": _Field(_bool, False),
                        "reserved_concurrency": _Field(_int(1, 10000), None),
                    },
                ),
                Deploy(),
            ),
            "retry": _Field(_RETRY, None),
            "timeout": _Field(_duration(0.001), None),
            "pool": _POOL,
        },
        _IMPORTS,
        _check_function,
    ),
    "library.lua": _Kind(LibraryEntry, _CODE, _IMPORTS, _check_code),
    "process.lua": _Kind(
        ProcessEntry,
        {**_CODE, "method": _Field(_lua_name, None), "env": _ENV},
        _IMPORTS,
        _check_process,
    ),
    "workflow.lua": _Kind(
        WorkflowEntry,
        {
            **_CODE,
            "method": _Field(_lua_name, "main"),
            "env": _ENV,
            "retry": _Field(_RETRY, RetryPolicy()),
        },
        _IMPORTS,
        _check_workflow,
    ),
    "process.host": _Kind(
        ProcessHostEntry,
        {
            "batch_size": _Field(_int(1, 10), 10),  # the SQS FIFO batch limit
            "max_concurrency": _MAX_CONCURRENCY,
            "visibility_timeout": _Field(_duration(1, 43200), 60.0),
            "max_receive_count": _Field(_int(1, 1000), 5),
            "journal_warning": _Field(_int(1, 10_000_000), 10_000),
            "lambda_timeout": _Field(_duration(1, 900), 30.0),
            "retention": _RETENTION,
            "host": _Field(
                _settings(
                    {
                        "workers": _Field(_int(1), None),
                        "queue_size": _Field(_int(1), None),
                        "local_queue_size": _Field(_int(1), None),
                        # In the Wippy runtime's own test app; the runtime ignores it as well.
                        "max_processes": _Field(_int(1), None),
                    }
                ),
                None,
                keep=False,
            ),
            "lifecycle": _LIFECYCLE,
        },
        check=_check_process_host,
    ),
    "workflow.host": _Kind(WorkflowHostEntry, _WORKFLOW_HOST_FIELDS),
    "temporal.worker": _Kind(
        TemporalWorkerEntry,
        {
            "client": _Field(_ref),
            "task_queue": _Field(_text()),
            "worker_options": _Field(_WORKER_OPTIONS, None, keep=False),
            **_WORKFLOW_HOST_FIELDS,
        },
        (_r("client", "temporal.client"),),
        _check_temporal_worker,
    ),
    "temporal.client": _Kind(
        TemporalClientEntry,
        {
            "address": _Field(_text()),
            "namespace": _Field(_text(), "default", keep=False),
            "tq_prefix": _Field(_expect_str, None, keep=False),
            "connection_timeout": _Field(_duration(), None, keep=False),
            "keep_alive_time": _Field(_duration(), None, keep=False),
            "keep_alive_timeout": _Field(_duration(), None, keep=False),
            "auth": _Field(_mapping, None, keep=False),
            "tls": _Field(_mapping, None, keep=False),
            "health_check": _Field(_mapping, None, keep=False),
            "lifecycle": _LIFECYCLE,
        },
        check=_check_temporal_client,
    ),
    "process.service": _Kind(
        ServiceEntry,
        {
            "process": _Field(_ref, None),
            "host": _Field(_ref, None),
            "input": _Field(_list(_any, unique=False), None, keep=False),
            "args": _Field(_list(_any, unique=False), ()),
            "registry_name": _Field(_text(), None),
            "lifecycle": _Field(_lifecycle(service=True), Lifecycle()),
            "children": _Field(_list(_ref), ()),
            "strategy": _Field(
                _choice("one_for_one", "one_for_all", "rest_for_one"), "one_for_one"
            ),
            "intensity": _Field(
                _block(
                    Intensity,
                    {"max_restarts": _Field(_int(0), 3), "period": _Field(_duration(0.001), 5.0)},
                ),
                Intensity(),
            ),
        },
        (
            _r("process", "process.lua"),
            _r("host", "process.host"),
            _r("children", "process.service"),
        ),
        _check_service,
    ),
    "http.service": _Kind(
        HttpServiceEntry,
        {
            "addr": _Field(_text()),
            "timeouts": _Field(
                _settings({n: _Field(_duration(), None) for n in ("read", "write", "idle")}),
                None,
                keep=False,
            ),
            "host": _Field(
                _settings({n: _Field(_int(0), None) for n in ("buffer_size", "worker_count")}),
                None,
                keep=False,
            ),
            "network": _Field(_ref, None, keep=False),
            "tls": _Field(_mapping, None, keep=False),
            "lifecycle": _LIFECYCLE,
        },
        check=_check_http_service,
    ),
    "http.router": _Kind(
        HttpRouterEntry,
        {
            "prefix": _Field(_expect_str, ""),
            "middleware": _Field(_list(_middleware), ()),
            "options": _Field(_scalar_map, None, keep=False),
            "post_middleware": _Field(_list(_middleware), ()),
            "post_options": _Field(_scalar_map, None, keep=False),
            "auth": _AUTH,
            "jwt": _JWT,
            "lifecycle": _LIFECYCLE,
        },
        (_r("server", "http.service", label="meta.server"),),
        _check_router,
    ),
    "http.endpoint": _Kind(
        EndpointEntry,
        {
            "method": _Field(_choice(*HTTP_METHODS, "TRACE", upper=True)),
            "path": _Field(_path),
            "func": _Field(_ref),
            "auth": _AUTH,
            "jwt": _JWT,
            "lifecycle": _LIFECYCLE,
            "middleware": _Field(_list(_middleware), (), keep=False),
            "options": _Field(_scalar_map, None, keep=False),
            "post_middleware": _Field(_list(_middleware), (), keep=False),
            "post_options": _Field(_scalar_map, None, keep=False),
        },
        (_r("func", "function.lua"), _r("router", "http.router", label="meta.router")),
        _check_endpoint,
    ),
    "store.memory": _Kind(
        StoreEntry,
        {
            "max_size": _Field(_int(0), 10000, keep=False),
            "cleanup_interval": _Field(_duration(), 300.0),
            "lifecycle": _LIFECYCLE,
        },
        check=_check_store,
    ),
    "store.kv.raft": _Kind(
        StoreEntry,
        {"namespace": _Field(_expect_str, None, keep=False), "lifecycle": _LIFECYCLE},
        check=_check_store,
    ),
    "store.kv.crdt": _Kind(
        StoreEntry,
        {
            "namespace": _Field(_expect_str, None, keep=False),
            "durable": _Field(_bool, False),
            "lifecycle": _LIFECYCLE,
        },
        check=_check_store,
    ),
    "config.aws": _Kind(
        AwsConfigEntry,
        {
            "region": _Field(_text(), None),
            "access_key_id": _Field(_expect_str, None, keep=False),
            "secret_access_key": _Field(_expect_str, None, keep=False),
            "region_env": _Field(_expect_str, None, keep=False),
            "access_key_id_env": _Field(_expect_str, None, keep=False),
            "secret_access_key_env": _Field(_expect_str, None, keep=False),
            "lifecycle": _LIFECYCLE,
        },
        check=_check_aws_config,
    ),
    "cloudstorage.s3": _Kind(
        S3StorageEntry,
        {
            "bucket": _Field(_text(), None),
            "config": _Field(_ref),
            "endpoint": _Field(_text(), None),
            "lifecycle": _LIFECYCLE,
        },
        (_r("config", "config.aws"),),
        _check_s3,
    ),
    "fs.directory": _Kind(
        FsDirectoryEntry,
        {
            "directory": _Field(_text()),
            "mode": _Field(_fs_mode, 0o755),
            "base": _Field(_choice("project", "module"), "project"),
            "auto_init": _Field(_bool, False),
            "type": _Field(_expect_str, None, keep=False),
            "lifecycle": _LIFECYCLE,
        },
        check=_check_fs_directory,
    ),
    "db.sql.sqlite": _Kind(
        SqlEntry,
        {
            "file": _Field(_text(), None, keep=False),
            "pool": _SQL_POOL,
            "options": _Field(_scalar_map, {}, keep=False),
            "lifecycle": _LIFECYCLE,
        },
        check=_check_sqlite,
    ),
    "db.sql.postgres": _Kind(
        SqlEntry,
        {
            "host": _Field(_text(), None),
            "port": _Field(_port, None),
            "database": _Field(_text(), None),
            "username": _Field(_text(), None),
            "password": _Field(_expect_str, None),
            "password_secret": _Field(_text(), None),
            "password_parameter": _Field(_text(), None),
            **{f"{n}_env": _Field(_expect_str, None, keep=False) for n in _PG_FIELDS},
            "pool": _SQL_POOL,
            "options": _SQL_OPTIONS,
            "lifecycle": _LIFECYCLE,
        },
        check=_check_postgres,
    ),
    "db.sql.mysql": _Kind(
        SqlEntry,
        {
            **{n: _Field(_any, None, keep=False) for n in _PG_FIELDS},
            **{f"{n}_env": _Field(_any, None, keep=False) for n in _PG_FIELDS},
            "pool": _Field(_any, None, keep=False),
            "options": _Field(_any, None, keep=False),
            "lifecycle": _Field(_any, None, keep=False),
        },
        check=_check_mysql,
    ),
    **{
        kind: _Kind(
            QueueDriverEntry,
            {
                "config": _Field(_ref, None),
                "endpoint": _Field(_expect_str, None, keep=False),
                # 14 days, not SQS's 4: as long as the queue's DLQ keeps a message.
                "message_retention_period": _Field(_int(60, 1209600), 1209600),
                "default_delay_seconds": _Field(_int(0, 900), 0),
                "disable_message_checksum_validation": _Field(_bool, None, keep=False),
                "use_fips": _Field(_bool, None, keep=False),
                "use_dual_stack": _Field(_bool, None, keep=False),
                "lifecycle": _LIFECYCLE,
            }
            if kind == "queue.driver.sqs"
            else {"lifecycle": _LIFECYCLE},
            (_r("config", "config.aws"),),
            _check_queue_driver,
        )
        for kind in ("queue.driver.memory", "queue.driver.sqs")
    },
    "queue.driver.amqp": _Kind(
        QueueDriverEntry,
        {
            **{name: _Field(_any, None, keep=False) for name in _AMQP_FIELDS},
            "lifecycle": _LIFECYCLE,
        },
        check=_check_amqp,
    ),
    "queue.queue": _Kind(
        QueueEntry,
        {
            "driver": _Field(_ref),
            "queue_name": _Field(_text(), None),
            "codec": _Field(_choice(*_QUEUE_CODECS), "json/plain"),
            "driver_options": _Field(_mapping, None, keep=False),
            "dead_letter": _Field(
                _settings(
                    {
                        "queue": _Field(_dead_letter_queue, None),
                        "max_attempts": _Field(_int(1, 1000), 5),
                    }
                ),
                None,
                keep=False,
            ),
            "lifecycle": _LIFECYCLE,
        },
        (_r("driver", "queue.driver.memory", "queue.driver.sqs", "queue.driver.amqp"),),
        _check_queue,
    ),
    "queue.consumer": _Kind(
        QueueConsumerEntry,
        {
            "queue": _Field(_ref),
            "func": _Field(_ref),
            "concurrency": _Field(_int(1, 1000), 1),
            "prefetch": _Field(_int(1, 10000), 10),
            "auto_ack": _Field(_bool, None, keep=False),
            "driver_options": _Field(_mapping, None, keep=False),
            "lifecycle": _LIFECYCLE,
        },
        (_r("queue", "queue.queue"), _r("func", "function.lua")),
        _check_consumer,
    ),
}
#: Every entry kind the kit understands (honours or accepts); the kinds it skips are in
#: :mod:`runtime.wippy_kinds`.
ENTRY_KINDS: tuple[str, ...] = tuple(_KINDS)
#: The kinds it runs: all of them but those it knows only to refuse with a reason.
RUN_KINDS: tuple[str, ...] = tuple(k for k in _KINDS if k != "queue.driver.amqp")


# -- loading -------------------------------------------------------------------------------------


class _DuplicateKeyLoader(yaml.SafeLoader):
    """safe_load, except that a key given twice in one mapping is an error, not a silent win."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark
                )
            seen.add(key if isinstance(key, str) else id(key_node))
        return super().construct_mapping(node, deep)


def _did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Loader:
    """Collects entries, problems and warning lines across all files of one application."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[str] = []
        self.entries: dict[str, Entry] = {}
        self.skipped: dict[str, SkippedEntry] = {}
        self.origins: dict[str, str] = {}  # id -> file that defined it first
        self.kinds: dict[str, str | None] = {}  # every id seen; None when its kind is unknown
        #: In load order, skipped entries and fields accepted but not applied, as
        #: (entry id or None, where, field or None, text, whether it is a skip).
        self.notes: list[tuple[str | None, str, str | None, str, bool]] = []
        #: (entry id, field, target, kinds it may have) checked once every file is read.
        self.soft_refs: list[tuple[str, str, str, tuple[str, ...]]] = []
        #: The HTTP API's CORS configuration, settled by check_links.
        self.cors: CorsPolicy | None = None

    def report(self, file: str, label: str | None, field: str | None, message: str) -> None:
        self.problems.append(f"{self._where(file, label, field)}: {message}")

    def note(
        self, entry_id: str | None, file: str, label: str | None, field: str | None, text: str
    ) -> None:
        self.notes.append((entry_id, self._where(file, label, None), field, text, False))

    @staticmethod
    def _where(file: str, label: str | None, field: str | None) -> str:
        return file + (f": {label}" if label else "") + (f" field '{field}'" if field else "")

    def warning_lines(self) -> list[str]:
        """The lines of the load's warning: every skip, and the notes of the entries kept. The
        same note on several entries (``pool:`` on every function) is one line naming them."""
        kept = [n for n in self.notes if n[4] or n[0] is None or n[0] in self.entries]
        same: dict[tuple[str | None, str], list[str]] = {}
        for entry_id, _, field_name, text, skip in kept:
            if not skip and entry_id is not None:
                same.setdefault((field_name, text), []).append(entry_id)
        lines = []
        for entry_id, where, field_name, text, skip in kept:
            ids = same.get((field_name, text), []) if not skip else []
            if len(ids) > 1:
                if entry_id != ids[0]:
                    continue  # said once, where it first appears
                where = f"{len(ids)} entries ({', '.join(ids)})"
            lines.append(where + (f" field '{field_name}'" if field_name else "") + f": {text}")
        return lines

    def load_file(self, path: Path) -> None:
        rel = path.relative_to(self.root).as_posix()
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_DuplicateKeyLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            kind = (
                "YAML error"
                if isinstance(exc, yaml.constructor.ConstructorError)
                else "YAML syntax error"
            )
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            detail = "; ".join(filter(None, [exc.context, exc.problem]))
            return self.report(rel, None, None, f"{kind}{where}: {detail}")
        except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
            return self.report(rel, None, None, f"cannot read: {exc}")
        if not isinstance(data, dict):
            return self.report(
                rel, None, None, "expected a mapping with version, namespace, entries"
            )
        for key in data:
            if key not in ("version", "namespace", "entries"):
                hint = _did_you_mean(str(key), ["version", "namespace", "entries"])
                self.report(rel, None, str(key), f"unknown top-level key{hint}")
        version = data.get("version")
        if version != VERSION:
            found = "missing" if version is None else f"unsupported version {version!r}"
            self.report(rel, None, "version", f'{found} (expected "{VERSION}", quoted)')
        namespace = data.get("namespace")
        if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
            found = "missing" if namespace is None else f"invalid namespace {namespace!r}"
            # Without a namespace no entry has an id, so its entries cannot be checked.
            return self.report(
                rel, None, "namespace", f"{found} (expected dotted identifiers like app.workers)"
            )
        entries = data.get("entries") or []
        if not isinstance(entries, list):
            return self.report(rel, None, "entries", "expected a list of entries")
        for number, item in enumerate(entries, 1):
            self.load_entry(rel, path.parent, namespace, number, item)

    def load_entry(self, rel: str, folder: Path, namespace: str, number: int, item: Any) -> None:
        label = f"entry #{number}"
        if not isinstance(item, dict):
            return self.report(rel, label, None, "expected a mapping with name and kind")
        name, kind = item.get("name"), item.get("kind")
        entry_id = None
        if name is None:
            self.report(rel, label, "name", "missing")
        elif not isinstance(name, str) or not _NAME.fullmatch(name):
            self.report(
                rel, label, "name", f"invalid name {name!r} (letters, digits, '_', '.', '-')"
            )
        else:
            entry_id = f"{namespace}:{name}"
            label = f"entry '{entry_id}'"
        spec = _KINDS.get(kind) if isinstance(kind, str) else None
        skip = skip_reason(kind) if isinstance(kind, str) and spec is None else None
        if kind is None:
            self.report(rel, label, "kind", f"missing (expected one of: {', '.join(RUN_KINDS)})")
        elif spec is None and skip is None:
            hint = _did_you_mean(str(kind), [*_KINDS, *WIPPY_KIND_EXAMPLES])
            self.report(
                rel,
                label,
                "kind",
                f"unknown kind '{kind}'{hint} (the kit runs: {', '.join(RUN_KINDS)}; the other "
                "kinds of Wippy are skipped with a warning)",
            )
        if entry_id is not None:
            if entry_id in self.origins:
                self.report(
                    rel, label, None, f"duplicate id (first defined in {self.origins[entry_id]})"
                )
                entry_id = None
            else:
                self.origins[entry_id] = rel
                self.kinds[entry_id] = kind if spec or skip else None
        meta = {} if item.get("meta") is None else item["meta"]
        if not isinstance(meta, dict):
            self.report(rel, label, "meta", "expected a mapping")
        if skip is not None:
            # Nothing of it runs here, so its fields are Wippy's business, not checked.
            if entry_id is not None:
                self._skip(SkippedEntry(entry_id, kind, rel, skip))
            return
        if spec is None:
            return
        ctx = _Ctx(
            self, rel, folder, namespace, label, entry_id, meta if isinstance(meta, dict) else {}
        )
        ctx.kind = kind
        data = {k: v for k, v in item.items() if k not in ("name", "kind", "meta")}
        values = _parse_fields(ctx, data, spec.fields, kind, also=("name", "kind", "meta"))
        if values is None:
            return
        try:
            extra = _checked(ctx, spec.check, values, data) or {}
        except _Reported:
            return
        values = _kept(values, spec.fields)
        source = values.pop("source", None)
        if isinstance(source, _Source):
            values.update(source=source.written, source_path=source.path, source_name=source.name)
            values["code"] = source.code
        if entry_id is not None and isinstance(meta, dict):
            self.entries[entry_id] = spec.cls(
                id=entry_id,
                namespace=namespace,
                name=name,
                kind=kind,
                file=rel,
                meta=meta,
                **values,
                **extra,
            )

    def _skip(self, skipped: SkippedEntry) -> None:
        self.entries.pop(skipped.id, None)
        self.skipped[skipped.id] = skipped
        where = self._where(skipped.file, f"entry '{skipped.id}' ({skipped.kind})", None)
        self.notes.append((skipped.id, where, None, f"skipped: {skipped.reason}", True))

    # -- checks across entries ---------------------------------------------------------------
    def check_links(self) -> None:
        """Skips that follow from skips, references, routes, the service trees and import
        cycles."""
        self._skip_dependents()
        for entry in self.entries.values():
            for attr, kinds, label in _KINDS[entry.kind].refs:
                for field_name, target in _targets(label, getattr(entry, attr)):
                    self._check_ref(entry, field_name, target, kinds)
        for entry_id, field_name, target, kinds in self.soft_refs:
            entry = self.entries.get(entry_id)
            if entry is not None and not (target in self.skipped and not kinds):
                self._check_ref(entry, field_name, target, kinds)
        routed = self._route_endpoints()
        routes: dict[tuple[str, str], EndpointEntry] = {}
        parents: dict[str, str] = {}
        for entry in self.entries.values():
            if isinstance(entry, EndpointEntry) and entry.id in routed:
                shape = _PATH_PARAM.sub(lambda m: "{...}" if m[2] else "{}", entry.path)
                first = routes.setdefault((entry.method, shape), entry)
                if first is not entry:
                    self._problem(
                        entry,
                        "path",
                        f"route {entry.method} {entry.path} is the same as '{first.id}' "
                        f"({first.method} {first.path})",
                    )
            if isinstance(entry, ServiceEntry):
                for child in entry.children:
                    if parents.setdefault(child, entry.id) != entry.id:
                        self._problem(
                            entry,
                            "children",
                            f"'{child}' already has a parent ('{parents[child]}')",
                        )
        for entry in self.entries.values():
            if (
                isinstance(entry, ServiceEntry)
                and not entry.lifecycle.auto_start
                and entry.id not in parents
            ):
                # Wippy's supervisor can start such a service later; nothing here can.
                self.note(
                    entry.id,
                    entry.file,
                    f"entry '{entry.id}'",
                    "lifecycle.auto_start",
                    "not true, so the service is never started: a service starts (on deploy, "
                    "in LocalCloud, in units dev) with auto_start: true, as in Wippy, or as a "
                    "tree's child; nothing here starts one on request",
                )
        services = {
            e.id: list(e.children) for e in self.entries.values() if isinstance(e, ServiceEntry)
        }
        for cycle in _cycles(services):
            self._problem(self.entries[cycle[0]], "children", "cycle: " + " -> ".join(cycle))
        imports = {
            e.id: list(e.imports.values())
            for e in self.entries.values()
            if isinstance(e, CodeEntry)
        }
        for cycle in _cycles(imports):
            self._problem(
                self.entries[cycle[0]], "imports", "circular import: " + " -> ".join(cycle)
            )
        self._api_cors()
        self._check_dead_letter_queues()
        servers = [e for e in self.entries.values() if isinstance(e, HttpServiceEntry)]
        for server in servers[1:]:
            self.note(
                server.id,
                server.file,
                f"entry '{server.id}'",
                None,
                f"shares the application's one HTTP API with '{servers[0].id}' (API Gateway "
                "has one URL; their routes must not collide)",
            )

    def _check_dead_letter_queues(self) -> None:
        """A queue's dead-letter queue is of its type (SQS redrives FIFO to FIFO only) and is
        no queue's that itself dead-letters (one level, as SQS advises)."""
        for entry in self.entries.values():
            if not isinstance(entry, QueueEntry) or entry.dead_letter_queue is None:
                continue
            target = self.entries.get(entry.dead_letter_queue)
            if not isinstance(target, QueueEntry):
                continue  # reported by the reference check
            if target.dead_letter_queue is not None:
                self._problem(
                    entry,
                    "dead_letter.queue",
                    f"'{target.id}' sends its own dead letters to '{target.dead_letter_queue}'; "
                    "a dead-letter queue must be one that keeps them (one level)",
                )
            elif target.fifo != entry.fifo:
                kinds = ("a FIFO", "a standard")
                self._problem(
                    entry,
                    "dead_letter.queue",
                    f"'{target.id}' is {kinds[not target.fifo]} queue and '{entry.id}' "
                    f"{kinds[not entry.fifo]} one: SQS moves dead letters between queues of "
                    "the same type only",
                )

    def _api_cors(self) -> None:
        """The routers' cors settings as the API's one CORS configuration: every router that
        lists cors must ask for the same, and API Gateway applies it to the others' routes
        too."""
        routers = [e for e in self.entries.values() if isinstance(e, HttpRouterEntry)]
        asking = [r for r in routers if r.cors is not None]
        if not asking:
            return
        first = asking[0]
        assert first.cors is not None
        agreed = True
        for other in asking[1:]:
            assert other.cors is not None
            differ = cors_config.differences(first.cors, other.cors)
            if differ:
                agreed = False
                self._problem(
                    other,
                    "options",
                    f"its cors settings differ from router '{first.id}' ({first.file}) in "
                    f"{', '.join(differ)}: the application's routes are one API Gateway HTTP "
                    "API, which has one CORS configuration, so every router listing cors must "
                    "give the same cors options",
                )
        if not agreed:
            return
        self.cors = first.cors
        for router in routers:
            if router.cors is None:
                self.note(
                    router.id,
                    router.file,
                    f"entry '{router.id}'",
                    "middleware",
                    f"no cors, but the API's one CORS configuration (router '{first.id}') "
                    "applies to its routes too, as API Gateway applies it to the whole API",
                )

    def _skip_dependents(self) -> None:
        """Skip every entry that needs a skipped one (an endpoint of a WASM function, a
        service of a skipped process, an import of bytecode...), until none is left."""
        changed = bool(self.skipped)
        while changed:
            changed = False
            for entry in list(self.entries.values()):
                needed = next(
                    (
                        target
                        for attr, _, label in _KINDS[entry.kind].refs
                        for _, target in _targets(label, getattr(entry, attr))
                        if target in self.skipped
                    ),
                    None,
                )
                if needed is not None:
                    reason = f"needs '{needed}' ({self.skipped[needed].kind}), which is skipped"
                    self._skip(SkippedEntry(entry.id, entry.kind, entry.file, reason))
                    changed = True

    def _route_endpoints(self) -> set[str]:
        """A router's endpoints get their whole route (prefix + path) and, when they set no
        auth of their own, the router's. Returns the ids of the endpoints whose route is known
        (not those whose router is missing: that is reported already)."""
        routed = set()
        for entry in list(self.entries.values()):
            if not isinstance(entry, EndpointEntry):
                continue
            if entry.router is None:
                routed.add(entry.id)
                continue
            router = self.entries.get(entry.router)
            if not isinstance(router, HttpRouterEntry):
                continue
            route = _route_of(router.prefix, entry.path)
            try:
                params, greedy = _path_shape(route)
            except _Bad as bad:
                self._problem(
                    entry, "path", f"{bad} (router '{router.id}' prefix '{router.prefix}')"
                )
                continue
            own = entry.auth is not None
            self.entries[entry.id] = dataclasses.replace(
                entry,
                path=route,
                params=params,
                greedy=greedy,
                auth=entry.auth if own else router.auth or "iam",
                jwt=entry.jwt if own else router.jwt,
            )
            routed.add(entry.id)
        return routed

    def _problem(self, entry: Entry, field: str, message: str) -> None:
        self.report(entry.file, f"entry '{entry.id}'", field, message)

    def _check_ref(self, entry: Entry, field: str, target: str, kinds: tuple[str, ...]) -> None:
        expected = " or ".join(kinds)
        if target not in self.kinds:
            same_kind = [i for i, k in self.kinds.items() if k in kinds or not kinds]
            self._problem(
                entry, field, f"'{target}' is not defined{_did_you_mean(target, same_kind)}"
            )
        elif kinds and self.kinds[target] not in (None, *kinds):  # None: reported already
            self._problem(
                entry, field, f"'{target}' is a {self.kinds[target]}, expected {expected}"
            )


def _targets(attr: str, value: Any) -> list[tuple[str, str]]:
    """The (field, id) pairs of a reference field: one id, a tuple of ids or an alias map."""
    if isinstance(value, dict):
        return [(f"{attr}.{alias}", target) for alias, target in value.items()]
    if isinstance(value, tuple):
        return [(attr, target) for target in value]
    return [] if value is None else [(attr, value)]


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Every cycle in ``graph`` once, as ``[a, b, ..., a]`` starting where it was found."""
    state: dict[str, bool] = {}  # False: on the current path; True: done
    path: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = False
        path.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) is False:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = True

    for node in graph:
        if node not in state:
            visit(node)
    return found
