"""The HTTP API: API Gateway HTTP API (payload v2) events to ``http.endpoint`` functions.

Built on Powertools' ``APIGatewayHttpResolver`` for event parsing and response shaping; the
routing itself is :class:`runtime.routes.Router`, because endpoint paths allow a greedy
``{rest...}`` segment, and a known path asked with the wrong method must answer 405, not 404.

A function's INTERNAL error (an uncaught Lua error, an AWS SDK failure: texts that may name
ARNs, the account, the application's code) is never sent to the client: it gets a generic
message and the request id, and the error's text goes to the logs under that id
(:func:`internal_error_response`). Every other kind keeps its message, which the function
chose to return.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from runtime import codec
from runtime.aws.limits import payload_too_large
from runtime.engine import Engine
from runtime.errors import (
    ALREADY_EXISTS,
    CANCELED,
    CONFLICT,
    INTERNAL,
    INVALID,
    NOT_FOUND,
    PERMISSION_DENIED,
    RATE_LIMITED,
    TIMEOUT,
    UNAVAILABLE,
    UNKNOWN,
    UnitError,
)
from runtime.http_exchange import REPLY_OVERHEAD, HttpExchange, HttpRequest, HttpResponse
from runtime.routes import Match, MethodNotAllowed, Router

#: The HTTP status an error kind maps to when a function returns ``nil, err`` (or raises)
#: without having answered through ``http.response()``. A kind not listed is a 500.
STATUS_OF_KIND = {
    INVALID: 400,
    PERMISSION_DENIED: 403,
    NOT_FOUND: 404,
    ALREADY_EXISTS: 409,
    CONFLICT: 409,
    RATE_LIMITED: 429,
    CANCELED: 499,
    INTERNAL: 500,
    UNKNOWN: 500,
    UNAVAILABLE: 503,
    TIMEOUT: 504,
}
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(payload, ensure_ascii=False),
        headers=headers,
    )


def _written_response(written: HttpResponse) -> Response:
    """The response a function wrote through ``http.response()``: text as is, anything else
    base64-encoded.

    Without a Content-Type, a body gets what Go's server would sniff for it in the broad
    strokes (UTF-8 text or bytes); an empty body gets none. The body is decoded here rather
    than handed to Powertools as bytes, because Powertools runs its JSON serializer over any
    non-``str`` body whose content type is JSON.
    """
    headers = dict(written.headers)
    body = written.body
    content_type = headers.pop("content-type", None)
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    if content_type is None and body:
        content_type = "application/octet-stream" if encoded else "text/plain; charset=utf-8"
    response = Response(
        status_code=written.status,
        content_type=content_type,
        body=text,
        headers=headers,
        cookies=list(written.cookies),  # type: ignore[arg-type]  # str() is what Powertools sends
    )
    response.base64_encoded = encoded
    return response


def error_response(error: UnitError) -> Response:
    """The JSON error body ``{"error": {"kind", "message"}}`` with the kind's status."""
    body = {"error": {"kind": error.kind, "message": error.message}}
    return _json_response(STATUS_OF_KIND.get(error.kind, 500), body)


#: What a client is told of an INTERNAL error, with the request id the logs carry.
INTERNAL_MESSAGE = "internal error (request id {request_id}); the details are in the logs"


def internal_error_response(request_id: str) -> Response:
    """The 500 answer to an INTERNAL error: ``{"error": {"kind", "message", "request_id"}}``
    with a generic message (the error's own text is logged, never sent)."""
    body = {
        "error": {
            "kind": INTERNAL,
            "message": INTERNAL_MESSAGE.format(request_id=request_id),
            "request_id": request_id,
        }
    }
    return _json_response(500, body)


def _malformed(event: Any) -> str | None:
    """What is wrong with the shape of an API Gateway v2 event, or None (the fields read here
    and by Powertools, with the types API Gateway sends)."""
    if not isinstance(event, dict):
        return "not an object"
    http = (
        (event.get("requestContext") or {}).get("http")
        if isinstance(event.get("requestContext"), dict)
        else None
    )
    if not isinstance(http, dict) or not isinstance(http.get("method"), str):
        return "requestContext.http.method must be a string"
    if not isinstance(event.get("rawPath"), str):
        return "rawPath must be a string"
    expected: dict[str, Any] = {
        "rawQueryString": str,
        "body": str,
        "headers": dict,
        "queryStringParameters": dict,
        "pathParameters": dict,
        "cookies": list,
        "isBase64Encoded": bool,
    }
    for name, kind in expected.items():
        value = event.get(name)
        if value is not None and not isinstance(value, kind):
            return f"{name} must be a {kind.__name__}"
    for name in ("headers", "queryStringParameters", "pathParameters"):
        items = event.get(name) or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in items.items()):
            return f"{name} must map strings to strings"
    if not all(isinstance(c, str) for c in event.get("cookies") or []):
        return "cookies must be strings"
    return None


def _reply(response: Response) -> dict[str, Any]:
    """A JSON response as the Lambda reply, for answers given before Powertools runs."""
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": "application/json", **(response.headers or {})},
        "body": response.body,
        "isBase64Encoded": False,
    }


class HttpApi:
    """Routes requests to functions. ``resolve(event, context)`` is the Lambda entry point."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.router = Router(engine.registry)
        self.resolver = APIGatewayHttpResolver()
        # Every path, newlines too (".*" would leave "/a\nb" to Powertools' own 404).
        self.resolver.route(rule=r"[\s\S]*", method=_METHODS)(self._handle)

    def resolve(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """Answer one API Gateway v2 event."""
        malformed = _malformed(event)
        if malformed:
            # API Gateway never sends these, but a hand-made or replayed event may: a clear 400
            # rather than a Powertools exception (a bare 502 from API Gateway).
            error = UnitError(INVALID, f"malformed API Gateway event: {malformed}")
            return _reply(error_response(error))
        method = event["requestContext"]["http"]["method"].upper()
        if method not in _METHODS:
            # Powertools would answer its own {"message": "Not found"}: answer as for any other
            # method the path does not take (405), or 404.
            return _reply(self._no_route(method, event["rawPath"] or "/", None))
        reply = self.resolver.resolve(event, context)
        # Past Lambda's response limit API Gateway answers a bare 502; answer a clear 500 instead.
        # The body is nearly all of the reply; headers and the envelope fit in a few KB.
        body = reply.get("body") or ""
        size = len(body.encode() if isinstance(body, str) else body) + REPLY_OVERHEAD
        too_large = payload_too_large("the response", size)
        if too_large:
            error = {"error": {"kind": INTERNAL, "message": too_large}}
            return {
                "statusCode": 500,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps(error),
                "isBase64Encoded": False,
            }
        return reply

    def _handle(self) -> Response:
        event = self.resolver.current_event
        method = event.request_context.http.method.upper()
        path = event.raw_path or "/"
        found = self.router.match(method, path)
        if found is None or isinstance(found, MethodNotAllowed):
            return self._no_route(method, path, found)
        return self._call(found, method, path, event)

    def _no_route(self, method: str, path: str, found: Any) -> Response:
        """404 for a path no endpoint has; 405 (with Allow) for a method the path does not take."""
        if found is None:
            found = self.router.match(method, path)
        if not isinstance(found, MethodNotAllowed):
            return error_response(UnitError(NOT_FOUND, f"no route for {method} {path}"))
        return _json_response(
            405,
            {"error": {"kind": INVALID, "message": f"{method} is not allowed on {path}"}},
            {"Allow": ", ".join(found.allowed)},
        )

    def _call(self, found: Match, method: str, path: str, event: Any) -> Response:
        raw_body = event.get("body") or ""
        try:
            body = (
                base64.b64decode(raw_body, validate=True)
                if event.get("isBase64Encoded")
                else raw_body.encode()
            )
        except (binascii.Error, ValueError):
            return error_response(UnitError(INVALID, "the body is not valid base64"))
        exchange = HttpExchange(_request(found, method, path, event, body))
        try:
            value = self.engine.call(found.endpoint.func, [], http=exchange)
        except UnitError as exc:
            if not exchange.response.handled:
                if exc.kind == INTERNAL:
                    return self._internal(found.endpoint.func, exc, event)
                return error_response(exc)
            # As in Wippy: once the function has answered through http.response(), that answer
            # is what the client gets; the error is logged.
            self.engine.emit_log(
                "error",
                f"{found.endpoint.func} failed after writing its response: {exc.message}",
                {"entry": found.endpoint.func, "kind": exc.kind},
            )
            return _written_response(exchange.response)
        if exchange.response.handled:
            return _written_response(exchange.response)
        if value is None:
            return Response(status_code=204, body="")
        return _json_response(200, codec.to_json_value(value))

    def _internal(self, func: str, error: UnitError, event: Any) -> Response:
        """Log an INTERNAL error under the request's id (API Gateway's, which its access log
        has too) and answer the generic 500."""
        context = event.get("requestContext") or {}
        request_id = context.get("requestId") or str(uuid.uuid4())
        fields: dict[str, Any] = {"entry": func, "kind": error.kind, "request_id": request_id}
        trace = error.details.get("traceback")
        if trace:
            fields["traceback"] = trace
        self.engine.emit_log("error", f"{func} failed: {error.message}", fields)
        return internal_error_response(str(request_id))


def _request(found: Match, method: str, path: str, event: Any, body: bytes) -> HttpRequest:
    """The request a function sees, from the API Gateway v2 event."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    cookies = event.get("cookies") or []
    if cookies and "cookie" not in headers:
        # Payload v2 moves the Cookie header into its own list: put it back for req:header.
        headers["cookie"] = "; ".join(cookies)
    context = event.get("requestContext") or {}
    source_ip = (context.get("http") or {}).get("sourceIp")
    return HttpRequest(
        method=method,
        path=unquote(path),
        raw_path=path,
        params=found.params,
        query=parse_qs(event.get("rawQueryString") or "", keep_blank_values=True),
        headers=headers,
        body=body,
        source_ip=source_ip if isinstance(source_ip, str) else "",
        host=headers.get("host") or str(context.get("domainName") or ""),
    )
