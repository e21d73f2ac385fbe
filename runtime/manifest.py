"""Loading an application folder: every ``_index.yaml`` under it, checked as one whole.

Each ``_index.yaml`` holds ``version: "1.0"``, a ``namespace`` and a list of ``entries``; an entry's
id is ``namespace:name``. :func:`load_app` reads them all, checks every field, resolves every
reference to a full id and checks the target's kind, then returns a :class:`Registry`. It never
half-succeeds: every problem found in every file is collected and raised together as one
:class:`~runtime.errors.ManifestError`, each problem naming the file, the entry and the field.

Durations are accepted as ``"250ms"``/``"1h30m"`` strings or numbers of milliseconds and stored
as float seconds.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, overload
from urllib.parse import urlparse

import yaml

from runtime.durations import parse_duration
from runtime.errors import KINDS as ERROR_KINDS
from runtime.errors import NOT_FOUND, ManifestError, UnitError
from runtime.modules import GLOBAL_MODULES, MODULE_NAMES

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


# -- entries -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Deploy:
    """How a function is deployed: Lambda memory (MB), timeout (s), and its own Lambda or not."""

    memory: int = 512
    timeout: float = 30.0
    remote: bool = False


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
    """A service's lifecycle: started on deploy or not, and its restart policy."""

    auto_start: bool = True
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
    """``workflow.lua``: a durable ``main(input)``; ``retry`` is its activities' default policy."""

    kind: str = "workflow.lua"
    method: str = "main"
    env: dict[str, str] = field(default_factory=dict)
    retry: RetryPolicy = RetryPolicy()


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessHostEntry(Entry):
    """``process.host``: one SQS FIFO queue (+ DLQ) and one worker Lambda. Durations in seconds."""

    kind: str = "process.host"
    batch_size: int = 10
    max_concurrency: int | None = None
    visibility_timeout: float = 60.0
    max_receive_count: int = 5
    lambda_timeout: float = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowHostEntry(Entry):
    """``workflow.host``: the driver state machine plus step and activity Lambdas."""

    kind: str = "workflow.host"
    activity_batch_size: int = 10
    activity_max_receive_count: int = 5
    step_timeout: float = 60.0
    max_concurrency: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceEntry(Entry):
    """``process.service``: a supervised process (``process`` on ``host``) and/or a tree node
    (``children``, full ids of other services, restarted per ``strategy``)."""

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
    ``params`` lists every path parameter in order, the greedy one included; ``greedy`` names
    the final ``{rest...}`` parameter, if any."""

    kind: str = "http.endpoint"
    method: str
    path: str
    func: str
    auth: str = "iam"
    jwt: Jwt | None = None
    params: tuple[str, ...] = ()
    greedy: str | None = None


E = TypeVar("E", bound=Entry)


class Registry:
    """The loaded entries of one application folder, by id, in load order."""

    def __init__(self, root: Path, entries: Mapping[str, Entry]) -> None:
        self.root = root
        self.entries: dict[str, Entry] = dict(entries)

    def get(self, entry_id: str) -> Entry:
        """The entry ``entry_id``; a NOT_FOUND :class:`UnitError` (with a suggestion) if none."""
        entry = self.entries.get(entry_id)
        if entry is None:
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
    return Registry(root, loader.entries)


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
    parse: Parser
    default: Any = _REQUIRED


class _Ctx:
    """Where a value sits (file, entry, field path) so problems can say so."""

    def __init__(
        self, loader: _Loader, file: str, folder: Path, namespace: str, label: str
    ) -> None:
        self.loader, self.file, self.folder = loader, file, folder
        self.namespace, self.label = namespace, label
        self.path: list[str] = []

    def problem(self, message: str, field: str | None = None) -> None:
        self.loader.report(
            self.file, self.label, ".".join([*self.path, *filter(None, [field])]), message
        )


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
        return cls(**values)

    return parse


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
    name = _expect(raw, str, "a module name")
    if name in GLOBAL_MODULES:
        raise _Bad(f"'{name}' is a global: use it without listing it in modules")
    if name not in MODULE_NAMES:
        hint = _did_you_mean(name, MODULE_NAMES)
        raise _Bad(f"unknown module '{name}'{hint} (valid: {', '.join(sorted(MODULE_NAMES))})")
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
    _path_shape(_expect(raw, str, "a string"))
    return raw


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
        "non_retryable": _Field(_list(_choice(*ERROR_KINDS)), ()),
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
    },
    lambda ctx, v, data: _not_before(ctx, v, "initial_delay", "max_delay"),
)
_CODE = {
    "source": _Field(_source),
    "modules": _Field(_list(_module), ()),
    "imports": _Field(_map(_IDENT, "a Lua identifier", _ref), {}),
}
_ENV = _Field(_map(_ENV_KEY, "an upper-case name like API_URL", _text(what="a string")), {})
_MAX_CONCURRENCY = _Field(_int(2, 1000), None)


def _check_code(ctx: _Ctx, values: dict, data: dict) -> None:
    for alias in values["imports"]:
        if alias in values["modules"]:
            ctx.problem(f"'{alias}' is both an import alias and a listed module", field="imports")


def _check_process_host(ctx: _Ctx, values: dict, data: dict) -> None:
    # SQS would hand a message to a second worker while the first is still on it.
    if values["visibility_timeout"] < values["lambda_timeout"]:
        ctx.problem(
            f"visibility_timeout ({_seconds(values['visibility_timeout'])}) must be at least "
            f"lambda_timeout ({_seconds(values['lambda_timeout'])})",
            field="visibility_timeout",
        )


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


def _check_endpoint(ctx: _Ctx, values: dict, data: dict) -> dict[str, Any]:
    if values["auth"] == "jwt" and values["jwt"] is None:
        ctx.problem("missing (required when auth is jwt)", field="jwt")
    if values["auth"] != "jwt" and values["jwt"] is not None:
        ctx.problem(f"only allowed with auth: jwt (auth is {values['auth']})", field="jwt")
    params, greedy = _path_shape(values["path"])
    return {"params": params, "greedy": greedy}


@dataclass(frozen=True, slots=True)
class _Kind:
    cls: type[Entry]
    fields: dict[str, _Field]
    refs: tuple[tuple[str, str], ...] = ()  # (field, kind its targets must have)
    check: Callable[..., Any] | None = None


_IMPORTS = (("imports", "library.lua"),)
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
                    },
                ),
                Deploy(),
            ),
            "retry": _Field(_RETRY, None),
            "timeout": _Field(_duration(0.001), None),
        },
        _IMPORTS,
        _check_code,
    ),
    "library.lua": _Kind(LibraryEntry, _CODE, _IMPORTS, _check_code),
    "process.lua": _Kind(
        ProcessEntry,
        {**_CODE, "method": _Field(_lua_name, None), "env": _ENV},
        _IMPORTS,
        _check_code,
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
        _check_code,
    ),
    "process.host": _Kind(
        ProcessHostEntry,
        {
            "batch_size": _Field(_int(1, 10), 10),  # the SQS FIFO batch limit
            "max_concurrency": _MAX_CONCURRENCY,
            "visibility_timeout": _Field(_duration(1, 43200), 60.0),
            "max_receive_count": _Field(_int(1, 1000), 5),
            "lambda_timeout": _Field(_duration(1, 900), 30.0),
        },
        check=_check_process_host,
    ),
    "workflow.host": _Kind(
        WorkflowHostEntry,
        {
            "activity_batch_size": _Field(_int(1, 10), 10),
            "activity_max_receive_count": _Field(_int(1, 1000), 5),
            "step_timeout": _Field(_duration(1, 900), 60.0),
            "max_concurrency": _MAX_CONCURRENCY,
        },
    ),
    "process.service": _Kind(
        ServiceEntry,
        {
            "process": _Field(_ref, None),
            "host": _Field(_ref, None),
            "args": _Field(_list(_any, unique=False), ()),
            "registry_name": _Field(_text(), None),
            "lifecycle": _Field(
                _block(
                    Lifecycle,
                    {
                        "auto_start": _Field(_bool, True),
                        "restart": _Field(_RESTART, RestartPolicy()),
                    },
                ),
                Lifecycle(),
            ),
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
        (("process", "process.lua"), ("host", "process.host"), ("children", "process.service")),
        _check_service,
    ),
    "http.endpoint": _Kind(
        EndpointEntry,
        {
            "method": _Field(_choice(*HTTP_METHODS, upper=True)),
            "path": _Field(_path),
            "func": _Field(_ref),
            "auth": _Field(_choice("iam", "none", "jwt"), "iam"),
            "jwt": _Field(
                _block(Jwt, {"issuer": _Field(_https_url), "audience": _Field(_audience)}), None
            ),
        },
        (("func", "function.lua"),),
        _check_endpoint,
    ),
}
#: Every entry kind the kit understands.
ENTRY_KINDS: tuple[str, ...] = tuple(_KINDS)


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
    """Collects entries and problems across all files of one application folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[str] = []
        self.entries: dict[str, Entry] = {}
        self.origins: dict[str, str] = {}  # id -> file that defined it first
        self.kinds: dict[str, str | None] = {}  # every id seen; None when its kind is unknown

    def report(self, file: str, label: str | None, field: str | None, message: str) -> None:
        where = file + (f": {label}" if label else "") + (f" field '{field}'" if field else "")
        self.problems.append(f"{where}: {message}")

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
        if kind is None:
            self.report(rel, label, "kind", f"missing (expected one of: {', '.join(_KINDS)})")
        elif spec is None:
            hint = _did_you_mean(str(kind), _KINDS)
            self.report(
                rel,
                label,
                "kind",
                f"unknown kind '{kind}'{hint} (expected one of: {', '.join(_KINDS)})",
            )
        if entry_id is not None:
            if entry_id in self.origins:
                self.report(
                    rel, label, None, f"duplicate id (first defined in {self.origins[entry_id]})"
                )
                entry_id = None
            else:
                self.origins[entry_id] = rel
                self.kinds[entry_id] = kind if spec else None
        meta = {} if item.get("meta") is None else item["meta"]
        if not isinstance(meta, dict):
            self.report(rel, label, "meta", "expected a mapping")
        if spec is None:
            return
        ctx = _Ctx(self, rel, folder, namespace, label)
        data = {k: v for k, v in item.items() if k not in ("name", "kind", "meta")}
        values = _parse_fields(ctx, data, spec.fields, kind, also=("name", "kind", "meta"))
        if values is None:
            return
        try:
            extra = _checked(ctx, spec.check, values, data) or {}
        except _Reported:
            return
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

    # -- checks across entries ---------------------------------------------------------------
    def check_links(self) -> None:
        """References, duplicate routes, the service trees and import cycles."""
        routes: dict[tuple[str, str], EndpointEntry] = {}
        parents: dict[str, str] = {}
        for entry in self.entries.values():
            for attr, expected in _KINDS[entry.kind].refs:
                for field_name, target in _targets(attr, getattr(entry, attr)):
                    self._check_ref(entry, field_name, target, expected)
            if isinstance(entry, EndpointEntry):
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

    def _problem(self, entry: Entry, field: str, message: str) -> None:
        self.report(entry.file, f"entry '{entry.id}'", field, message)

    def _check_ref(self, entry: Entry, field: str, target: str, expected: str) -> None:
        if target not in self.kinds:
            same_kind = [i for i, k in self.kinds.items() if k == expected]
            self._problem(
                entry, field, f"'{target}' is not defined{_did_you_mean(target, same_kind)}"
            )
        elif self.kinds[target] not in (None, expected):  # None: broken, reported already
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
