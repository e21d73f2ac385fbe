"""The HTTP request and response an HTTP-bound function sees through the ``http`` module."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class HttpRequest:
    """A request as routed: path parameters resolved, header names lower-cased."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class HttpResponse:
    """What the function wrote; ``touched`` tells whether it used the response at all."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    touched: bool = False

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


@dataclass
class HttpExchange:
    """One request and the response being built for it."""

    request: HttpRequest
    response: HttpResponse = field(default_factory=HttpResponse)
