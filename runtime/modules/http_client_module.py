"""``http_client``: Wippy's HTTP client (``en/lua/http/client.md``).

``get/post/put/delete/head/patch(url, options?)`` and ``request(method, url, options?)`` return
``response, err``; ``request_batch(requests)`` returns ``responses, errors|nil`` (or ``nil,
err`` for a malformed batch); ``encode_uri`` / ``decode_uri`` are Go's query escaping.

A request yields its task: the scheduler operation here checks the options, hands the request
to the engine's I/O pool (:class:`runtime.http_client.HttpClient`, one keep-alive pool per
engine) and wakes the task when it lands, so the invocation's other tasks run meanwhile; when
no other task could run before the request's deadline, ``direct`` makes it on the caller's
thread without a yield (nothing can be kept waiting, and the pool hop is saved). It is
bounded by the request's ``timeout`` (30 s by default) and by the call's own deadline,
whichever comes first. Workflow code is refused (``runtime/lua/http_client.lua``).

The response is the table Wippy's runtime builds: ``status_code``, ``url`` (after redirects),
``body`` (absent when empty), ``body_size``, ``headers`` (Go's canonical names, first value)
and ``cookies`` (absent when there are none). Errors: bad arguments and options are Invalid,
refused destinations PermissionDenied, network failures and timeouts Internal and retryable.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus, unquote_to_bytes

from runtime.errors import INTERNAL, INVALID, PERMISSION_DENIED, UnitError
from runtime.http_client import (
    DEFAULT_MAX_BODY,
    DEFAULT_TIMEOUT,
    HttpClient,
    HttpFailure,
    Reply,
    RequestSpec,
    TlsOptions,
    check_url,
)
from runtime.modules.time_module import parse_duration_ns
from runtime.sandbox import lua_type

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime
    from runtime.scheduler import Scheduler, Task

_LUA = resources.files("runtime").joinpath("lua/http_client.lua").read_text(encoding="utf-8")
_OPTIONS = (
    "headers",
    "body",
    "query",
    "form",
    "files",
    "cookies",
    "auth",
    "timeout",
    "stream",
    "max_response_body",
    "unix_socket",
    "tls",
    "overlay_network",
)
_TLS_FIELDS = ("cert", "key", "ca", "server_name", "insecure_skip_verify")
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_FLAT = """
local next, unpack = next, table.unpack
return function(t)
  local out, n = {}, 0
  -- next, not pairs: a __pairs metamethod of application code must not run here.
  for k, v in next, t do
    out[n + 1], out[n + 2] = k, v
    n = n + 2
  end
  return unpack(out, 1, n)
end
"""

Settle = Callable[[Any, Any], None]
#: Where :func:`install_ops` leaves its scheduler's synchronous request entry point.
DIRECT = "http_client.direct"


class _Invalid(UnitError):
    def __init__(self, message: str, kind: str = INVALID) -> None:
        super().__init__(kind, message, retryable=False)


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state = engine.state

    def encode_uri(value: Any = None, *_: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value).encode()
        if not isinstance(value, bytes):
            return state.raise_in_lua("http_client.encode_uri: a string expected")
        return quote_plus(value, safe="").encode()

    def decode_uri(value: Any = None, *_: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value).encode()
        if not isinstance(value, bytes):
            return state.raise_in_lua("http_client.decode_uri: a string expected")
        bad = _BAD_ESCAPE.search(value)
        if bad is not None:
            escape = _text(value[bad.start() : bad.start() + 3])
            return None, state.new_error(INVALID, f'invalid URL escape "{escape}"', retryable=False)
        return unquote_to_bytes(value.replace(b"+", b" ")), None

    def direct(*args: Any) -> Any:
        scheduler = engine.scheduler
        run = scheduler.locals.get(DIRECT) if scheduler is not None else None
        if run is None or scheduler.current is None:
            return None  # not inside a unit's task: the yield reports it
        return run(*args)

    return state.lua.execute(
        _LUA,
        state.k["await"],
        state.wrap(direct),
        state.k["current_task"],
        state.k["new_error"],
        state.wrap(encode_uri),
        state.wrap(decode_uri),
        name="=[kit]http_client",
    )


def _flat(engine: Engine) -> Any:
    """A Lua function returning a table's pairs as ``k1, v1, k2, v2, ...``: Python reads Lua
    tables through it (see ``kit.get`` for why it never indexes them), compiled once per state."""
    state = engine.state
    fn = state.k.get("http_client_flat")
    if fn is None:
        fn = state.lua.execute(_FLAT, name="=[kit]http_client_flat")
        state.k["http_client_flat"] = fn
    return fn


class _Options:
    """Reads one request's Lua arguments into a :class:`RequestSpec`; raises :class:`_Invalid`."""

    def __init__(self, engine: Engine, flat: Any, fname: str) -> None:
        self.engine, self.flat, self.fname = engine, flat, fname

    def pairs(self, table: Any) -> list[tuple[Any, Any]]:
        items = self.flat(table)
        if not isinstance(items, tuple):
            items = () if items is None else (items,)
        return list(zip(items[0::2], items[1::2], strict=True))

    def fail(self, message: str, kind: str = INVALID) -> _Invalid:
        return _Invalid(f"http_client.{self.fname}: {message}", kind)

    def string(self, value: Any, what: str) -> bytes:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value).encode()
        if not isinstance(value, bytes):
            raise self.fail(f"{what} must be a string, got {_kind(value)}")
        return value

    def string_map(self, table: Any, what: str) -> list[tuple[str, str]]:
        if lua_type(table) != "table":
            raise self.fail(f"options.{what} must be a table, got {_kind(table)}")
        out = []
        for key, value in self.pairs(table):
            if not isinstance(key, bytes):
                raise self.fail(f"options.{what}: names must be strings, got {_kind(key)}")
            name = _text(key)
            out.append((name, _text(self.string(value, f"options.{what}[{name!r}]"))))
        out.sort()  # deterministic order on the wire (Lua's pairs order is not)
        return out

    def spec(self, method: Any, url: Any, options: Any) -> RequestSpec:
        if not isinstance(method, bytes) or not method:
            raise self.fail(f"method must be a non-empty string, got {_kind(method)}")
        if not _TOKEN.match(method):
            raise self.fail(f"invalid method {_text(method)!r}")
        if not isinstance(url, bytes) or not url:
            raise self.fail(f"URL required (a string), got {_kind(url)}")
        url_text = _text(url)
        reason = check_url(url_text)
        if reason is not None:
            raise self.fail(reason)
        spec = RequestSpec(method=_text(method).upper(), url=url_text)
        if options is None:
            return spec
        if lua_type(options) != "table":
            raise self.fail(f"options must be a table, got {_kind(options)}")
        for key, value in self.pairs(options):
            name = _text(key) if isinstance(key, bytes) else None
            if name not in _OPTIONS:
                raise self.fail(
                    f"unknown option {name or key!r} (options of Wippy's http_client: "
                    f"{', '.join(_OPTIONS)})"
                )
            self.option(spec, name, value)
        return spec

    def option(self, spec: RequestSpec, name: str, value: Any) -> None:
        if name == "headers":
            for header, text in self.string_map(value, name):
                if not _TOKEN.match(header.encode("utf-8", "surrogateescape")):
                    raise self.fail(f"options.headers: invalid header name {header!r}")
                if any(c in text for c in "\r\n\0"):
                    raise self.fail(f"options.headers[{header!r}]: a line break in the value")
            spec.headers = self.string_map(value, name)
        elif name in ("query", "form", "cookies"):
            setattr(spec, name, self.string_map(value, name))
        elif name == "body":
            spec.body = self.string(value, "options.body")
        elif name == "files":
            spec.files = self.files(value)
        elif name == "auth":
            if lua_type(value) != "table":
                raise self.fail(
                    f"options.auth must be a table {{user=, pass=}}, got {_kind(value)}"
                )
            fields = {(_text(k) if isinstance(k, bytes) else k): v for k, v in self.pairs(value)}
            user = _text(self.string(fields.get("user", b""), "options.auth.user"))
            password = _text(self.string(fields.get("pass", b""), "options.auth.pass"))
            spec.auth = (user, password) if user else None
        elif name == "timeout":
            spec.timeout = self.timeout(value)
        elif name == "stream":
            if not isinstance(value, bool):
                raise self.fail(f"options.stream must be a boolean, got {_kind(value)}")
            if value:
                raise self.fail(
                    "options.stream: streaming responses are not available in this kit (the "
                    "body is read whole; raise max_response_body for a large one)"
                )
        elif name == "max_response_body":
            if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
                raise self.fail(f"options.max_response_body must be a number, got {_kind(value)}")
            spec.max_body = int(value) if value > 0 else DEFAULT_MAX_BODY
        elif name == "unix_socket":
            raise self.fail(
                f"not allowed: unix socket {_text(self.string(value, 'options.unix_socket'))} "
                "(a Lambda has no local services to reach)",
                PERMISSION_DENIED,
            )
        elif name == "overlay_network":
            raise self.fail(
                "options.overlay_network: network overlays are not available in this kit"
            )
        elif name == "tls":
            spec.tls = self.tls(value, spec.url)

    def files(self, value: Any) -> list[tuple[str, str, bytes]]:
        if lua_type(value) != "table":
            raise self.fail(f"options.files must be an array of tables, got {_kind(value)}")
        out = []
        items = sorted(self.pairs(value), key=lambda kv: kv[0] if isinstance(kv[0], int) else 0)
        for index, item in items:
            where = f"options.files[{index}]"
            if lua_type(item) != "table":
                raise self.fail(f"{where} must be a table, got {_kind(item)}")
            fields = {(_text(k) if isinstance(k, bytes) else k): v for k, v in self.pairs(item)}
            if "reader" in fields and "content" not in fields:
                raise self.fail(f"{where}.reader: readers are not supported here; give content")
            if "name" not in fields:
                raise self.fail(f"{where}.name is required (the form field name)")
            if "content" not in fields:
                raise self.fail(f"{where}.content is required (the file's bytes)")
            name = _text(self.string(fields["name"], f"{where}.name"))
            filename = _text(self.string(fields.get("filename", b""), f"{where}.filename"))
            content = self.string(fields["content"], f"{where}.content")
            out.append((name, filename, content))
        return out

    def timeout(self, value: Any) -> float:
        if isinstance(value, bytes):
            ns, err = parse_duration_ns(value)
            if ns is None:
                raise self.fail(f"options.timeout: {_text(err or b'invalid duration')}")
            seconds = ns / 1e9
        elif isinstance(value, int | float) and not isinstance(value, bool) and value == value:
            seconds = float(value)  # Wippy's page: a number is seconds
        else:
            raise self.fail(
                f"options.timeout must be seconds or a duration string, got {_kind(value)}"
            )
        return seconds if seconds > 0 else DEFAULT_TIMEOUT  # 0 means the default, as in Go

    def tls(self, value: Any, url: str) -> TlsOptions | None:
        if lua_type(value) != "table":
            raise self.fail(f"options.tls must be a table, got {_kind(value)}")
        fields: dict[str, Any] = {}
        for key, item in self.pairs(value):
            name = _text(key) if isinstance(key, bytes) else None
            if name not in _TLS_FIELDS:
                raise self.fail(
                    f"options.tls: unknown field {name or key!r} ({', '.join(_TLS_FIELDS)})"
                )
            fields[name] = item
        if fields.get("insecure_skip_verify") is True:
            raise self.fail(
                f"not allowed: insecure TLS for {url} (give the server's CA as tls.ca instead)",
                PERMISSION_DENIED,
            )
        texts = {
            k: self.string(fields[k], f"options.tls.{k}")
            for k in ("cert", "key", "ca", "server_name")
            if k in fields
        }
        if ("cert" in texts) != ("key" in texts):
            raise self.fail("options.tls: cert and key must be given together")
        if not texts:
            return None
        server = texts.get("server_name")
        return TlsOptions(
            cert=texts.get("cert"),
            key=texts.get("key"),
            ca=texts.get("ca"),
            server_name=_text(server) if server else None,
        )


def _kind(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, bytes):
        return "string"
    if isinstance(value, int | float):
        return "number"
    return lua_type(value) or type(value).__name__


def install_ops(engine: Engine, scheduler: Scheduler) -> None:
    """Teach ``scheduler`` the ``http_client`` and ``http_client_batch`` operations."""
    state = engine.state

    def flat() -> Any:
        return _flat(engine)

    table_from = state.lua.table_from

    def response(reply: Reply) -> Any:
        # One table_from per table (the codec's way, see runtime/codec.py): no Lua call per
        # field. New tables have no metatable, so this is what a rawset per field would make.
        fields: dict[bytes, Any] = {
            b"status_code": reply.status,
            b"url": reply.url.encode(),
            b"body_size": len(reply.body),
        }
        if reply.body:
            fields[b"body"] = reply.body
        if reply.headers:
            fields[b"headers"] = table_from(
                {k.encode(): v.encode("latin-1", "replace") for k, v in reply.headers.items()}
            )
        if reply.cookies:
            fields[b"cookies"] = table_from(
                {k.encode(): v.encode() for k, v in reply.cookies.items()}
            )
        return table_from(fields)

    def bound(spec: RequestSpec) -> str:
        """Bound ``spec.timeout`` by the call's deadline; which of the two bounds it."""
        if scheduler.deadline is not None:
            left = max(0.0, scheduler.deadline - scheduler.clock.now())
            if left < spec.timeout:
                spec.timeout = left
                return "the call's deadline"
        return "the request's timeout"

    def timed_out(spec: RequestSpec, bound: str) -> Any:
        op = f'{spec.method[:1]}{spec.method[1:].lower()} "{spec.url}"'
        message = f"{op}: timeout: no response within {round(spec.timeout, 3):g}s ({bound})"
        return state.new_error(INTERNAL, message, retryable=True)

    def outcome(spec: RequestSpec, bound: str, perform: Callable[[], Reply]) -> tuple[Any, Any]:
        """``(response, err)`` of ``perform()``, its failures as Wippy's errors."""
        try:
            reply = perform()
        except HttpFailure as exc:
            message = exc.message
            if "timeout: no response" in message:
                message = f"{message} ({bound})"
            return None, state.new_error(exc.kind, message, retryable=exc.retryable)
        except Exception as exc:  # a bug of the transport is still this call's error
            op = f'{spec.method[:1]}{spec.method[1:].lower()} "{spec.url}"'
            return None, state.new_error(INTERNAL, f"{op}: {exc}", retryable=True)
        return response(reply), None

    def start(spec: RequestSpec, settle: Settle) -> None:
        """Start ``spec`` on the I/O pool; ``settle(response, err)`` once, on this thread."""
        why = bound(spec)
        timeout = spec.timeout
        cancel = threading.Event()
        settled = False

        def once(value: Any, error: Any) -> None:
            nonlocal settled
            if not settled:
                settled = True
                timer.cancelled = True
                settle(value, error)

        def expire() -> None:
            cancel.set()
            once(None, timed_out(spec, why))

        def landed(fut: Any) -> None:
            once(*outcome(spec, why, fut.result))

        client = engine.http_client()
        timer = scheduler.add_timer(timeout, expire)
        fut = engine.io_pool().submit(client.perform, spec, time.monotonic() + timeout, cancel)
        scheduler.add_io(fut, landed)

    def parse(fname: Any, method: Any, url: Any, options: Any) -> RequestSpec:
        return _Options(engine, flat(), fname.decode()).spec(method, url, options)

    def op_request(
        task: Task, fname: Any, method: Any, url: Any = None, options: Any = None
    ) -> Any:
        try:
            spec = parse(fname, method, url, options)
        except UnitError as exc:
            return True, (None, state.error_value(exc))
        start(spec, lambda v, e: scheduler.wake(task, (v, e)))
        return False, ()

    def direct(fname: Any, method: Any, url: Any = None, options: Any = None) -> Any:
        """A request from Lua without a yield: ``True, response, err`` when made (or refused)
        at once, ``False`` once started on the I/O pool (the caller then parks on
        ``http_client_wait``). The request is made on this thread when the calling task is the
        only one that could run until the request's own deadline (nothing ready, no I/O in
        flight, no timer due first): no other task can be kept waiting by it, and the hop to
        the I/O pool and back is saved."""
        task = scheduler.current
        try:
            spec = parse(fname, method, url, options)
        except UnitError as exc:
            return True, None, state.error_value(exc)
        why = bound(spec)
        if not scheduler.alone(scheduler.clock.now() + spec.timeout):
            start(spec, lambda v, e: scheduler.wake(task, (v, e)))
            return (False,)
        deadline = time.monotonic() + spec.timeout
        client = engine.http_client()
        value, error = outcome(spec, why, lambda: client.perform(spec, deadline, watched=True))
        if error is not None and time.monotonic() >= deadline:
            error = timed_out(spec, why)  # the words the pool path's timer would have used
        return True, value, error

    def op_wait(task: Task) -> Any:
        return False, ()  # ``direct`` started the request; it wakes the task

    def op_batch(task: Task, requests: Any = None) -> Any:
        reader = _Options(engine, flat(), "request_batch")
        specs: list[RequestSpec] = []
        try:
            if lua_type(requests) != "table":
                raise reader.fail(f"requests must be a table, got {_kind(requests)}")
            items = sorted(
                reader.pairs(requests), key=lambda kv: kv[0] if isinstance(kv[0], int) else 0
            )
            if not items:
                raise reader.fail("requests table cannot be empty")
            for index, item in items:
                if lua_type(item) != "table":
                    raise reader.fail(f"requests[{index}]: each request must be a table")
                fields = dict(reader.pairs(item))
                options = fields.get(3)
                if options is not None and lua_type(options) == "table":
                    stream = dict(reader.pairs(options)).get(b"stream")
                    if stream is True:
                        raise reader.fail(
                            f"requests[{index}]: streaming not supported in batch requests"
                        )
                try:
                    specs.append(reader.spec(fields.get(1), fields.get(2), options))
                except UnitError as exc:
                    raise _Invalid(f"requests[{index}]: {exc.message}", exc.kind) from None
        except UnitError as exc:
            return True, (None, state.error_value(exc))
        responses: list[Any] = [None] * len(specs)
        errors: list[Any] = [None] * len(specs)
        left = len(specs)

        def settle_at(index: int) -> Settle:
            def settle(value: Any, error: Any) -> None:
                nonlocal left
                responses[index], errors[index] = value, error
                left -= 1
                if left == 0:
                    failed = any(e is not None for e in errors)
                    out_errors = _array(state, errors, len(specs)) if failed else None
                    scheduler.wake(task, (_array(state, responses, len(specs)), out_errors))

            return settle

        for i, spec in enumerate(specs):
            start(spec, settle_at(i))
        return False, ()

    scheduler.ops[b"http_client"] = op_request
    scheduler.ops[b"http_client_batch"] = op_batch
    scheduler.ops[b"http_client_wait"] = op_wait
    scheduler.locals[DIRECT] = direct


def _array(state: Any, values: list[Any], size: int) -> Any:
    """A Lua array of ``size`` slots, nil where ``values`` has None (Wippy's batch results)."""
    out = state.table()
    for i, value in enumerate(values[:size], 1):
        if value is not None:
            state.set(out, i, value)
    return out


__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_TIMEOUT", "HttpClient", "build", "install_ops"]
