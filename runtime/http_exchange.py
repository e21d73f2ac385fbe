"""The HTTP request and response an HTTP-bound function sees through the ``http`` module."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

_TOKENS = itertools.count(1)

#: Bytes of a Lambda reply that are not the body (status, headers, the JSON envelope): a body
#: may use the Lambda payload limit less this much.
REPLY_OVERHEAD = 4096


@dataclass
class HttpRequest:
    """A request as routed: path parameters resolved, header names lower-cased.

    ``path`` is percent-decoded (what Go's ``URL.Path`` holds in the Wippy runtime);
    ``raw_path`` is the path as sent. ``source_ip`` is API Gateway's
    ``requestContext.http.sourceIp`` (no port: API Gateway does not pass it on).
    """

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    raw_path: str = ""
    source_ip: str = ""
    host: str = ""


@dataclass
class HttpResponse:
    """What the function wrote, buffered until it returns.

    ``handled`` is Wippy's "the function answered through the response" (set by ``set_status``,
    ``set_header``, the writes and ``flush``): the written response is sent instead of the
    function's return value or error. ``headers_sent`` is Wippy's point after which status and
    headers can no longer change (``set_status``, the first write or ``flush``). ``transfer`` is
    None, ``"chunked"`` or ``"sse"``.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    handled: bool = False
    headers_sent: bool = False
    transfer: str | None = None

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


@dataclass
class HttpExchange:
    """One request and the response being built for it. ``token`` tells this exchange from any
    other, so a request object kept past its call cannot read a later request."""

    request: HttpRequest
    response: HttpResponse = field(default_factory=HttpResponse)
    token: int = field(default_factory=lambda: next(_TOKENS))
