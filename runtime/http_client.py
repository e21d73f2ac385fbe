"""Outbound HTTP for the ``http_client`` module: one keep-alive pool per engine, requests made
on an I/O thread, Wippy's (Go's) client behaviour where the docs are silent.

The transport is urllib3 (already in every bundle through botocore, actively maintained, thread
safe pools). Per request it applies what Go's ``http.Client`` does for Wippy: a total timeout
(30 s by default), at most 10 redirects (301/302/303 turn into GET without a body, 307/308 keep
both; credentials are dropped when the host changes), transparent gzip when the caller did not
ask for an encoding, and a cap on the body read (``response body too large (max N bytes)``).

What a request may reach is checked on the address each new connection actually connects to
(so a DNS answer that changes between a check and the connect cannot slip past): private,
loopback and link-local addresses are refused, as Wippy refuses them without the
``http_client.private_ip`` permission, unless ``UNITS_HTTP_CLIENT_PRIVATE_IP`` on the deployment
lists them (CIDRs, comma separated, or ``*``); the instance metadata / container credential
addresses and the Lambda runtime API are refused always. Proxies from the environment are
never used, and nothing of the Lambda's environment is sent. Bodies are never logged.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import re
import socket
import ssl
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urljoin, urlsplit, urlunsplit

import urllib3
from urllib3 import exceptions as u3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import parse_url
from urllib3.util.ssl_ import create_urllib3_context

from runtime.errors import INTERNAL, INVALID, PERMISSION_DENIED

#: Go's http.Client defaults that Wippy's pool keeps.
DEFAULT_TIMEOUT = 30.0
MAX_REDIRECTS = 10
#: Wippy's default is 120 MB; a call's Lua memory ceiling is 64 MB here, so a body that large
#: could never become a Lua string. ``max_response_body`` raises it per request.
DEFAULT_MAX_BODY = 10 * 1024 * 1024
PRIVATE_IP_VARIABLE = "UNITS_HTTP_CLIENT_PRIVATE_IP"
USER_AGENT = "Go-http-client/1.1"
_CHUNK = 64 * 1024
#: Credential endpoints of EC2, ECS/Lambda containers and EKS: never reachable.
_CREDENTIAL_HOSTS = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "169.254.170.23", "fd00:ec2::254", "fd00:ec2::23")
)
_SENSITIVE = frozenset({"authorization", "www-authenticate", "cookie", "cookie2"})
_TLS_CACHE = 32
#: A space or a control character (below 0x20), which Go's URL parser refuses.
_SPACE_OR_CONTROL = re.compile("[\x00-\x20]")


#: The ``cancel`` of a request nobody can give up on (made on its caller's thread): never set.
_NEVER = threading.Event()


class HttpFailure(Exception):
    """A request that did not produce a response: ``kind`` and ``message`` as Wippy gives them
    (network failures and timeouts are Internal and retryable)."""

    def __init__(self, kind: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.kind, self.message, self.retryable = kind, message, retryable


class _Blocked(Exception):  # not an OSError: urllib3 must let it through untouched
    pass


@dataclass(frozen=True)
class TlsOptions:
    """The ``tls`` option: PEM texts and names, as Wippy's page lists them."""

    cert: bytes | None = None
    key: bytes | None = None
    ca: bytes | None = None
    server_name: str | None = None


@dataclass
class RequestSpec:
    """One request, its options already checked (see runtime/modules/http_client_module.py)."""

    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    query: list[tuple[str, str]] = field(default_factory=list)
    form: list[tuple[str, str]] = field(default_factory=list)
    #: (field name, file name, content)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)
    cookies: list[tuple[str, str]] = field(default_factory=list)
    auth: tuple[str, str] | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_body: int = DEFAULT_MAX_BODY
    tls: TlsOptions | None = None


@dataclass
class Reply:
    """A response read whole: headers by Go's canonical name (first value), cookies by name."""

    status: int
    headers: dict[str, str]
    cookies: dict[str, str]
    body: bytes
    url: str


@functools.lru_cache(maxsize=1024)
def canonical_header(name: str) -> str:
    """Go's ``textproto.CanonicalMIMEHeaderKey``: ``content-type`` -> ``Content-Type``; a name
    with a byte that is not a token character stays as it is."""
    if not name or any(c in " \t\r\n:" or ord(c) > 126 or ord(c) < 33 for c in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


@functools.lru_cache(maxsize=256)
def _origin(url: str) -> tuple[str | None, int | None, str | None]:
    """``(host, port, scheme)`` of ``url`` as urllib3's ``connection_from_url`` reads them
    (parsed once per URL: a keep-alive client asks for the same URLs over and over)."""
    u = parse_url(url)
    return u.host, u.port, u.scheme


def _set_cookies(values: list[str]) -> dict[str, str]:
    """Name -> value of each ``Set-Cookie`` line (Go's ``Response.Cookies``, later wins)."""
    out: dict[str, str] = {}
    for line in values:
        pair = line.split(";", 1)[0].strip()
        name, eq, value = pair.partition("=")
        name = name.strip()
        if not eq or not name or any(c in name for c in ' \t"(),/:;<=>?@[\\]{}'):
            continue
        value = value.strip()
        if len(value) > 1 and value[0] == value[-1] == '"':
            value = value[1:-1]
        out[name] = value
    return out


def _encode_pairs(pairs: list[tuple[str, str]]) -> str:
    """Go's ``url.Values.Encode``: keys sorted, values in order, query-escaped."""
    grouped: dict[str, list[str]] = {}
    for k, v in pairs:
        grouped.setdefault(k, []).append(v)
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k in sorted(grouped) for v in grouped[k])


def with_query(url: str, query: list[tuple[str, str]]) -> str:
    """``url`` with each ``query`` key set (replacing what the URL had), re-encoded as Go does."""
    parts = urlsplit(url)
    given = dict(query)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in given]
    return urlunsplit(parts._replace(query=_encode_pairs([*kept, *given.items()])))


#: URLs up to this long have their check cached (1024 of them at most: a few MB at worst).
_CACHED_URL = 2048


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be requested (None when it can): Go's parse and scheme checks (a
    function of the text alone, so cached for short URLs: a keep-alive client asks for the same
    URLs over and over)."""
    return _checked_url(url) if len(url) <= _CACHED_URL else _check_url(url)


def _check_url(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        return f"invalid URL {url!r}: {exc}"
    if parts.scheme not in ("http", "https"):
        scheme = parts.scheme or "(none)"
        return f"invalid URL {url!r}: unsupported protocol scheme {scheme!r} (http or https)"
    if not parts.hostname:
        return f"invalid URL {url!r}: no host"
    if _SPACE_OR_CONTROL.search(url):
        return f"invalid URL {url!r}: a control character or space in the URL"
    return None


_checked_url = functools.lru_cache(maxsize=1024)(_check_url)


def _multipart(
    form: list[tuple[str, str]], files: list[tuple[str, str, bytes]]
) -> tuple[bytes, str]:
    """A multipart/form-data body as Go's ``mime/multipart`` writes it (fields, then files,
    each file part ``application/octet-stream``, as Wippy's page says)."""
    boundary = os.urandom(30).hex()

    def quoted(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"', '\\"')

    out = bytearray()
    for name, value in form:
        disposition = f'form-data; name="{quoted(name)}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += value.encode() + b"\r\n"
    for name, filename, content in files:
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{quoted(name)}"; '
            f'filename="{quoted(filename)}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        out += content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


class AddressPolicy:
    """Which addresses a connection may reach (see the module docstring)."""

    def __init__(self, environ: Any) -> None:
        allowed = str(environ.get(PRIVATE_IP_VARIABLE, "") or "").strip()
        self.allow_all = allowed == "*"
        self.allowed: list[Any] = []
        if not self.allow_all:
            for item in filter(None, (p.strip() for p in allowed.split(","))):
                try:
                    self.allowed.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    continue  # a bad entry allows nothing
        self.runtime_api: set[tuple[Any, int]] = set()
        api = str(environ.get("AWS_LAMBDA_RUNTIME_API", "") or "")
        host, _, port = api.rpartition(":")
        with contextlib.suppress(ValueError):
            self.runtime_api.add((ipaddress.ip_address(host.strip("[]")), int(port)))

    def check(self, address: str, port: int) -> None:
        """Raise :class:`_Blocked` when ``address:port`` may not be reached."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip in _CREDENTIAL_HOSTS or (ip, port) in self.runtime_api:
            raise _Blocked(f"not allowed: {ip} is a credentials or runtime endpoint of the host")
        private = ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified
        if private and not self.allow_all and not any(ip in net for net in self.allowed):
            raise _Blocked(
                f"not allowed: private IP {ip} (list it in {PRIVATE_IP_VARIABLE} on the "
                "deployment, as Wippy's http_client.private_ip permission would allow it)"
            )


class _Watch:
    """One request watched by :class:`_Watchdog`: the connection it is using, once it has one."""

    __slots__ = ("conn", "deadline", "expired")

    def __init__(self, deadline: float) -> None:
        self.deadline, self.conn, self.expired = deadline, None, False


class _Watchdog:
    """Holds requests made on a caller's own thread to their deadline: once it passes, the
    socket of the request's connection is shut down, which ends any read blocked on it (a
    server trickling bytes slower than the socket timeout cannot stretch the request). Made on
    an I/O thread, a request needs none of this: the scheduler's timer gives up on it.

    One thread per client, started on first use; it wakes only when a watched deadline that
    is earlier than its next wake-up arrives, so watching costs a lock, not a thread switch.
    """

    def __init__(self) -> None:
        # Entered as the bare lock where no wait or notify follows (a C-level enter).
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._active: set[_Watch] = set()
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None
        self._closed = False
        self.local = threading.local()

    def start(self, deadline: float) -> _Watch:
        watch = _Watch(deadline)
        with self._lock:  # the condition's own lock: its notify below is legal
            self._active.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="http-client-watchdog", daemon=True
                )
                self._thread.start()
            elif deadline < self._wake_at:
                self._cond.notify()
        self.local.watch = watch
        return watch

    def stop(self, watch: _Watch) -> None:
        self.local.watch = None
        with self._lock:
            self._active.discard(watch)
            watch.conn = None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                for watch in [w for w in self._active if w.deadline <= now]:
                    self._active.discard(watch)
                    watch.expired = True
                    sock = getattr(watch.conn, "sock", None)
                    if sock is not None:
                        # The plain socket's shutdown, also under TLS: it wakes a blocked read.
                        with contextlib.suppress(OSError):
                            socket.socket.shutdown(sock, socket.SHUT_RDWR)
                self._wake_at = min((w.deadline for w in self._active), default=float("inf"))
                wait = self._wake_at - now if self._active else None
                self._cond.wait(wait)


def _guarded_classes(policy: AddressPolicy, watchdog: _Watchdog) -> dict[str, type]:
    """Pool classes whose new connections check the address they reached (and tell the
    watchdog which connection a watched request uses)."""

    def guarded(base: type) -> type:
        class Guarded(base):  # type: ignore[misc, valid-type]
            def request(self, *args: Any, **kwargs: Any) -> Any:
                watch = getattr(watchdog.local, "watch", None)
                if watch is not None:
                    watch.conn = self
                    if watch.expired:
                        raise TimeoutError
                return super().request(*args, **kwargs)

            def _new_conn(self) -> socket.socket:
                sock = super()._new_conn()
                try:
                    peer = sock.getpeername()
                    policy.check(peer[0], int(peer[1]))
                except BaseException:
                    sock.close()
                    raise
                return sock

        return Guarded

    http_conn, https_conn = guarded(HTTPConnection), guarded(HTTPSConnection)
    http_pool = type("GuardedPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn})
    https_pool = type("GuardedTlsPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn})
    return {"http": http_pool, "https": https_pool}


class HttpClient:
    """The engine's keep-alive pool; :meth:`perform` is called on I/O threads."""

    def __init__(self, environ: Any) -> None:
        self.policy = AddressPolicy(environ)
        self._default_tls = create_urllib3_context()
        self._default_tls.load_default_certs()
        self.pool = urllib3.PoolManager(num_pools=32, maxsize=10, ssl_context=self._default_tls)
        self.watchdog = _Watchdog()
        self.pool.pool_classes_by_scheme = _guarded_classes(  # type: ignore[assignment]
            self.policy, self.watchdog
        )
        self._tls: OrderedDict[TlsOptions, ssl.SSLContext] = OrderedDict()
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close every pooled connection (and stop the watchdog)."""
        self.watchdog.close()
        self.pool.clear()

    def tls_context(self, tls: TlsOptions) -> ssl.SSLContext:
        """An SSL context for ``tls`` (cached: the same options reuse their pool).

        Raises:
            HttpFailure: INVALID for PEM text that does not load.
        """
        with self._lock:
            ctx = self._tls.get(tls)
            if ctx is not None:
                self._tls.move_to_end(tls)
                return ctx
        ctx = create_urllib3_context()
        try:
            if tls.ca is not None:
                ctx.load_verify_locations(cadata=tls.ca.decode("ascii", "replace"))
            else:
                ctx.load_default_certs()
        except (ssl.SSLError, ValueError) as exc:
            raise HttpFailure(
                INVALID, f"tls.ca: not a PEM certificate ({exc})", retryable=False
            ) from None
        if tls.cert is not None and tls.key is not None:
            # The ssl module loads a client certificate only from files: private ones, gone
            # as soon as they are read.
            with tempfile.TemporaryDirectory() as tmp:
                cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
                for path, data in ((cert, tls.cert), (key, tls.key)):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                try:
                    ctx.load_cert_chain(cert, key)
                except (ssl.SSLError, ValueError) as exc:
                    raise HttpFailure(
                        INVALID,
                        f"tls.cert/tls.key: not a PEM certificate and key ({exc})",
                        retryable=False,
                    ) from None
        with self._lock:
            self._tls[tls] = ctx
            while len(self._tls) > _TLS_CACHE:
                self._tls.popitem(last=False)
        return ctx

    # -- one request ------------------------------------------------------------------------
    def perform(
        self,
        spec: RequestSpec,
        deadline: float,
        cancel: threading.Event | None = None,
        *,
        watched: bool = False,
    ) -> Reply:
        """Make the request, following redirects, and read its body whole.

        ``deadline`` is on ``time.monotonic()``; ``cancel`` is set when the caller gave up.
        ``watched`` (a request made on the caller's own thread, nothing to give up on it): the
        watchdog ends the request at ``deadline`` even if the server keeps trickling bytes.

        Raises:
            HttpFailure: the request did not produce a response.
        """
        url = with_query(spec.url, spec.query) if spec.query else spec.url
        if cancel is None:
            cancel = _NEVER
        watch = self.watchdog.start(deadline) if watched else None
        try:
            reply = self._perform(spec, url, deadline, cancel)
            if watch is not None and watch.expired:
                # The shut socket read as the end of the response: what came is not all of it.
                raise TimeoutError
            return reply
        except HttpFailure as exc:
            if exc.kind == INTERNAL:
                exc.message = f"{_op(spec, url)}: {exc.message}"
            raise
        except _Blocked as exc:
            raise HttpFailure(PERMISSION_DENIED, str(exc), retryable=False) from None
        except Exception as exc:
            raise HttpFailure(
                INTERNAL, f"{_op(spec, url)}: {_reason(exc, spec, deadline)}", retryable=True
            ) from None
        finally:
            if watch is not None:
                self.watchdog.stop(watch)

    def _perform(
        self, spec: RequestSpec, url: str, deadline: float, cancel: threading.Event
    ) -> Reply:
        body, content_type = spec.body, None
        if spec.files:
            body, content_type = _multipart(spec.form, spec.files)
        elif spec.form:
            body, content_type = (
                _encode_pairs(spec.form).encode(),
                "application/x-www-form-urlencoded",
            )
        headers = urllib3.HTTPHeaderDict()
        headers["User-Agent"] = USER_AGENT
        if content_type:
            headers["Content-Type"] = content_type
        for name, value in spec.headers:
            headers[name] = value  # the caller's value wins over the defaults
        if spec.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in spec.cookies)
        if spec.auth is not None:
            headers["Authorization"] = urllib3.util.make_headers(
                basic_auth=f"{spec.auth[0]}:{spec.auth[1]}"
            )["authorization"]
        # Go asks for gzip and decodes it only when the caller did not ask for an encoding.
        decode = not spec.headers or "Accept-Encoding" not in headers
        if decode:
            headers["Accept-Encoding"] = "gzip"
        method = spec.method
        pool_kwargs: dict[str, Any] | None = None
        if spec.tls is not None:
            pool_kwargs = {"ssl_context": self.tls_context(spec.tls)}
            if spec.tls.server_name:
                pool_kwargs["server_hostname"] = spec.tls.server_name
        host: str | None = None  # the first URL's host, read at its first redirect
        for _hop in range(MAX_REDIRECTS + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or cancel.is_set():
                raise TimeoutError
            host_name, port, scheme = _origin(url)
            conn = self.pool.connection_from_host(
                host_name, port=port, scheme=scheme, pool_kwargs=pool_kwargs
            )
            resp = conn.urlopen(
                method,
                url,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                assert_same_host=False,
                timeout=urllib3.Timeout(connect=remaining, read=remaining),
                preload_content=False,
                decode_content=decode,
            )
            location = resp.headers.get("Location")
            if resp.status in (301, 302, 303, 307, 308) and location:
                resp.drain_conn()
                resp.release_conn()
                next_url = urljoin(url, location)
                reason = check_url(next_url)
                if reason is not None:
                    raise HttpFailure(INTERNAL, f"redirect: {reason}", retryable=False)
                if resp.status in (301, 302, 303):
                    if method not in ("GET", "HEAD"):
                        method = "GET"
                    body = None
                    for name in ("Content-Type", "Content-Length"):
                        headers.discard(name)
                if host is None:
                    host = urlsplit(url).hostname
                next_host = urlsplit(next_url).hostname
                if next_host != host:
                    for name in list(headers):
                        if name.lower() in _SENSITIVE:
                            headers.discard(name)
                url, host = next_url, next_host
                continue
            return self._read(resp, url, spec.max_body, decode, deadline, cancel)
        raise HttpFailure(INTERNAL, f"stopped after {MAX_REDIRECTS} redirects", retryable=False)

    def _read(
        self,
        resp: Any,
        url: str,
        cap: int,
        decoded: bool,
        deadline: float,
        cancel: threading.Event,
    ) -> Reply:
        too_large = HttpFailure(
            INTERNAL, f"response body too large (max {cap} bytes)", retryable=False
        )
        ok = False
        fields = _header_lists(resp.headers)
        declared = _joined(fields, "content-length")
        encoded = decoded and bool(_joined(fields, "content-encoding"))
        try:
            length = int(declared) if declared and declared.isdigit() else None
            as_sent = not encoded
            if length is not None and length > cap and as_sent:
                raise too_large
            chunks, size = [], 0
            # A declared body within one chunk is read in one call: what the loop below would
            # read as its first chunk, without asking again for the end.
            single = length is not None and length <= _CHUNK and as_sent
            while True:
                chunk = resp.read() if single else resp.read1(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > cap:
                    raise too_large
                chunks.append(chunk)
                if cancel.is_set() or time.monotonic() > deadline:
                    raise TimeoutError
                if single:
                    break
            ok = True
        finally:
            if not ok:
                resp.close()
            resp.release_conn()
        headers: dict[str, str] = {}
        for values in fields.values():
            headers.setdefault(canonical_header(values[0]), values[1])
        if encoded:
            # As Go does after decoding: the body no longer has that encoding or length.
            headers.pop("Content-Encoding", None)
            headers.pop("Content-Length", None)
        cookies = _set_cookies(fields["set-cookie"][1:]) if "set-cookie" in fields else {}
        return Reply(resp.status, headers, cookies, b"".join(chunks), url)


def _header_lists(headers: Any) -> dict[str, list[str]]:
    """A response's header fields as ``lowercased name -> [name as first sent, values...]``
    in the order they came: urllib3's own table (read, never changed), built from its public
    items on a urllib3 that keeps them otherwise. One pass instead of a lookup per field."""
    container = getattr(headers, "_container", None)
    if type(container) is dict:
        return container
    out: dict[str, list[str]] = {}
    for name, value in headers.iteritems():
        out.setdefault(name.lower(), [name]).append(value)
    return out


def _joined(fields: dict[str, list[str]], lowered: str) -> str | None:
    """The field's values joined as ``HTTPHeaderDict.get`` gives them (None when absent)."""
    values = fields.get(lowered)
    return ", ".join(values[1:]) if values is not None else None


def _op(spec: RequestSpec, url: str) -> str:
    """How Go's errors name a request: ``Get "https://..."``."""
    return f'{spec.method[:1].upper()}{spec.method[1:].lower()} "{url}"'


def _reason(exc: BaseException, spec: RequestSpec, deadline: float) -> str:
    """Why a request failed, in the words of Go's errors where there are some."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, u3.NameResolutionError):
            return f"dial tcp: lookup {cause.conn.host}: no such host"  # type: ignore[attr-defined]
        # Before timeouts: urllib3's NewConnectionError is a ConnectTimeoutError.
        if isinstance(cause, u3.NewConnectionError):
            conn = cause.conn
            inner = cause.__cause__ or cause.__context__
            if isinstance(inner, ConnectionRefusedError):
                return f"dial tcp {conn.host}:{conn.port}: connect: connection refused"
            return f"dial tcp {conn.host}:{conn.port}: {inner or cause}"
        if isinstance(cause, TimeoutError | socket.timeout | u3.TimeoutError):
            return f"timeout: no response within {round(spec.timeout, 3):g}s"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"tls: failed to verify certificate: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"tls: {cause.reason or cause}"
        if isinstance(cause, u3.SSLError | u3.ProtocolError | u3.ProxyError):
            nested = cause.args[-1] if cause.args else None
            if isinstance(nested, BaseException) and id(nested) not in seen:
                cause = nested
                continue
        cause = cause.__cause__ or cause.__context__
    if time.monotonic() >= deadline:
        return f"timeout: no response within {round(spec.timeout, 3):g}s"
    return str(exc) or type(exc).__name__
