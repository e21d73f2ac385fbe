"""API Gateway HTTP API (payload format 2.0) events, built the way API Gateway builds them.

The harness, the CLI and the local stack use this to put requests through the same handler code
that runs behind API Gateway.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | str | None = None,
) -> dict[str, Any]:
    """An API Gateway v2 event for ``method path``.

    ``body`` may be bytes (sent base64-encoded), str (sent as is) or any JSON value (encoded, with
    ``content-type: application/json`` unless a content type is given).
    """
    all_headers = {k.lower(): v for k, v in (headers or {}).items()}
    raw_body: str | None = None
    is_base64 = False
    if isinstance(body, bytes):
        raw_body, is_base64 = base64.b64encode(body).decode(), True
    elif isinstance(body, str):
        raw_body = body
    elif body is not None:
        raw_body = json.dumps(body)
        all_headers.setdefault("content-type", "application/json")
    raw_query = urlencode(query) if isinstance(query, dict) else query or ""
    path_only, _, inline_query = path.partition("?")
    raw_query = raw_query or inline_query
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path_only,
        "rawQueryString": raw_query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method.upper(),
                "path": path_only,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": all_headers.get("user-agent", "units"),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": is_base64,
    }
    if raw_query:
        event["queryStringParameters"] = {
            k: v for k, _, v in (p.partition("=") for p in raw_query.split("&") if p)
        }
    if raw_body is not None:
        event["body"] = raw_body
    return event
