"""CORS: Wippy's ``cors`` router middleware, as API Gateway applies it to the HTTP API.

A Wippy router lists ``cors`` in its ``middleware`` and sets it with ``cors.*`` options (the
older ``allow_origins``-style names too). Here every route is one API Gateway HTTP API, and an
HTTP API has one CORS configuration for all of it, so the options of the routers that list
``cors`` become that one configuration (:func:`parse_options` checks them, the loader refuses
routers that disagree) and ``infra/api.py`` gives it to the API.

Deployed, API Gateway then applies it before any route runs; locally :func:`through_gateway`
does the same in front of the API handler, so ``LocalCloud.http`` and ``units dev`` answer as
the deployed API does:

- A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered
  ``204`` by the gateway, no function called, unless an endpoint declares ``OPTIONS`` on that
  path (an API Gateway route takes the requests it matches, preflights too). When the origin,
  the method and every requested header are allowed, the answer carries the
  ``Access-Control-Allow-*`` headers and ``Access-Control-Max-Age``; otherwise none, and the
  browser refuses the request.
- Any other request from an allowed ``Origin`` gets ``Access-Control-Allow-Origin`` (and
  ``-Expose-Headers``, ``-Allow-Credentials`` when set) on its response. CORS headers the
  function wrote are dropped: API Gateway ignores an integration's own once CORS is configured.

Where Wippy and API Gateway differ, the kit takes API Gateway's side (it is what deploys) and
refuses at load what API Gateway cannot express: wildcard subdomains (``*.example.com``) and
Wippy's ``localhost`` shorthand (list the origins), and credentials for every origin (Wippy
echoes any origin back; API Gateway does not allow ``allowCredentials`` with ``*``). With ``*``
the answer says ``*`` rather than echoing the origin, as API Gateway does.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: The methods API Gateway's CORS configuration takes (CDK's ``CorsHttpMethod``), and ``*``.
CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: API Gateway's range for ``maxAge`` (seconds); Wippy's default is its top.
MAX_AGE_LIMIT = 86400
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110 token)
_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^/:?#\s*\[\]]+|\[[0-9A-Fa-f:.]+\])(?::\d+)?")


@dataclass(frozen=True, slots=True, kw_only=True)
class CorsPolicy:
    """The HTTP API's one CORS configuration: API Gateway's ``CorsConfiguration`` fields.

    ``allow_origins`` is ``("*",)`` for every origin, else exact origins. ``max_age`` is in
    seconds."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...] = ()
    allow_credentials: bool = False
    max_age: int = MAX_AGE_LIMIT

    def allows_origin(self, origin: str) -> bool:
        """Whether requests from ``origin`` get CORS headers."""
        return "*" in self.allow_origins or origin in self.allow_origins

    def allow_origin_value(self, origin: str) -> str:
        """The ``Access-Control-Allow-Origin`` sent to an allowed ``origin``."""
        return "*" if "*" in self.allow_origins else origin


@dataclass(frozen=True, slots=True)
class _Option:
    """One of Wippy's cors options: its older name, and its default as Wippy gives it."""

    legacy: str
    default: str


#: Wippy's option names (``options:`` of a router), with their legacy names and defaults.
OPTIONS: dict[str, _Option] = {
    "cors.allow.origins": _Option("allow_origins", "*"),
    "cors.allow.methods": _Option("allow_methods", "GET,POST,PUT,DELETE,OPTIONS,PATCH"),
    "cors.allow.headers": _Option(
        "allow_headers", "Origin,Content-Type,Accept,Authorization,X-Requested-With"
    ),
    "cors.expose.headers": _Option("expose_headers", ""),
    "cors.allow.credentials": _Option("allow_credentials", "false"),
    "cors.max.age": _Option("max_age", str(MAX_AGE_LIMIT)),
    "cors.allow.private.network": _Option("allow_private_network", "false"),
}
_LEGACY = {option.legacy: name for name, option in OPTIONS.items()}
_POLICY_FIELDS = {
    "cors.allow.origins": "allow_origins",
    "cors.allow.methods": "allow_methods",
    "cors.allow.headers": "allow_headers",
    "cors.expose.headers": "expose_headers",
    "cors.allow.credentials": "allow_credentials",
    "cors.max.age": "max_age",
}


@dataclass(frozen=True, slots=True)
class Parsed:
    """What :func:`parse_options` found: the policy (None when a value is wrong), and
    ``(option, message)`` pairs: ``problems`` fail the load, ``notes`` go to its warning."""

    policy: CorsPolicy | None
    problems: tuple[tuple[str, str], ...] = ()
    notes: tuple[tuple[str, str], ...] = ()


class _Bad(ValueError):
    """An option's value is wrong; the message says why."""


def cors_options(options: Mapping[str, Any]) -> list[str]:
    """The keys of ``options`` that are cors's: ``cors.*`` and the legacy names."""
    return [k for k in options if k.startswith("cors.") or k in _LEGACY]


def parse_options(options: Mapping[str, Any]) -> Parsed:
    """A router's ``options`` as the API's CORS configuration. Values may be strings or YAML
    scalars (``true``, ``600``), which Wippy reads as their text."""
    problems: list[tuple[str, str]] = []
    notes: list[tuple[str, str]] = []
    for key in cors_options(options):
        if key.startswith("cors.") and key not in OPTIONS:
            close = difflib.get_close_matches(key, list(OPTIONS), n=1)
            hint = (
                f" (did you mean '{close[0]}'?)" if close else f" (options: {', '.join(OPTIONS)})"
            )
            problems.append((key, f"unknown cors option{hint}"))
    texts: dict[str, tuple[str, str]] = {}  # option -> (key as written, text)
    for name, option in OPTIONS.items():
        # As in Wippy: the dotted name wins over the legacy one; empty means the default.
        key = name if name in options else option.legacy if option.legacy in options else name
        text = _text(options.get(key, ""))
        texts[name] = (key, text.strip() or option.default)
    values: dict[str, Any] = {}
    _UNSUPPORTED_ORIGINS.clear()
    for name, parse in _PARSERS.items():
        key, text = texts[name]
        try:
            values[name] = parse(text)
        except _Bad as bad:
            problems.append((key, str(bad)))
    for origin in _UNSUPPORTED_ORIGINS:
        notes.append(
            (
                texts["cors.allow.origins"][0],
                f"origin '{origin}' not applied: API Gateway matches origins exactly (or every "
                "origin with '*'), so Wippy's any-port 'localhost' and wildcard subdomains "
                "cannot be given to it: list each origin, like http://localhost:3000",
            )
        )
    if values.get("cors.allow.private.network"):
        notes.append(
            (
                texts["cors.allow.private.network"][0],
                "not applied: API Gateway sends no Access-Control-Allow-Private-Network (its "
                "URL is on the public internet)",
            )
        )
    if values.get("cors.allow.credentials") and "*" in values.get("cors.allow.origins", ()):
        problems.append(
            (
                texts["cors.allow.credentials"][0],
                f"true needs {texts['cors.allow.origins'][0]} to list the origins: API Gateway "
                "does not allow credentials for every origin ('*'), where Wippy echoes any "
                "origin back",
            )
        )
    if problems:
        return Parsed(None, tuple(problems), tuple(notes))
    policy = CorsPolicy(**{field: values[name] for name, field in _POLICY_FIELDS.items()})
    return Parsed(policy, (), tuple(notes))


def differences(a: CorsPolicy, b: CorsPolicy) -> list[str]:
    """The options two policies set differently, by Wippy's names."""
    names = {field: name for name, field in _POLICY_FIELDS.items()}
    return [
        names[f.name]
        for f in dataclasses.fields(CorsPolicy)
        if getattr(a, f.name) != getattr(b, f.name)
    ]


# -- the values ----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _items(text: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    if not items:
        raise _Bad(f"'{text}' lists nothing (expected a comma-separated list)")
    return items


#: Origins Wippy accepts that API Gateway cannot be given; they are left out with a note (a
#: Wippy manifest must load), not refused. Filled by :func:`_origins` per parse.
_UNSUPPORTED_ORIGINS: list[str] = []


def _origins(text: str) -> tuple[str, ...]:
    kept = []
    for item in _items(text):
        if item == "*":
            kept.append(item)
            continue
        if item == "localhost" or "*" in item:
            # Wippy's any-port `localhost` and wildcard subdomains: API Gateway matches origins
            # exactly (or all with '*').
            _UNSUPPORTED_ORIGINS.append(item)
            continue
        kept.append(item)
        if not _ORIGIN.fullmatch(item):
            raise _Bad(
                f"invalid origin '{item}' (expected scheme://host[:port], no path or trailing "
                "'/', like https://app.example.com)"
            )
    # '*' among others allows every origin all the same.
    return ("*",) if "*" in kept else tuple(kept)


def _methods(text: str) -> tuple[str, ...]:
    items = tuple(item.upper() for item in _items(text))
    for item in items:
        if item != "*" and item not in CORS_METHODS:
            raise _Bad(f"invalid method '{item}' (expected any of: {', '.join(CORS_METHODS)}, *)")
    return tuple(dict.fromkeys(items))


def _headers(text: str) -> tuple[str, ...]:
    items = _items(text)
    for item in items:
        if not _TOKEN.fullmatch(item):
            raise _Bad(f"invalid header name '{item}'")
    return items


def _optional_headers(text: str) -> tuple[str, ...]:
    return () if not text.strip(",").strip() else _headers(text)


def _flag(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise _Bad(f"invalid value '{text}' (expected true or false)")
    return text.lower() == "true"


def _max_age(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text):
        raise _Bad(f"invalid value '{text}' (expected a whole number of seconds)")
    seconds = int(text)
    if seconds > MAX_AGE_LIMIT:
        raise _Bad(
            f"must be between 0 and {MAX_AGE_LIMIT} seconds (API Gateway's range), got {text}"
        )
    return seconds


_PARSERS: dict[str, Callable[[str], Any]] = {
    "cors.allow.origins": _origins,
    "cors.allow.methods": _methods,
    "cors.allow.headers": _headers,
    "cors.expose.headers": _optional_headers,
    "cors.allow.credentials": _flag,
    "cors.max.age": _max_age,
    "cors.allow.private.network": _flag,
}


# -- the gateway ---------------------------------------------------------------------------------


def through_gateway(
    policy: CorsPolicy | None,
    event: dict[str, Any],
    resolve: Callable[[dict[str, Any]], dict[str, Any]],
    takes_options: Callable[[str], bool],
) -> dict[str, Any]:
    """Answer an API Gateway v2 ``event`` as API Gateway does with ``policy`` in front of the
    API Lambda (``resolve``). ``takes_options(path)`` says whether an endpoint declares
    OPTIONS on the path (that route then gets the preflight). Without a policy, ``resolve``
    alone."""
    if policy is None:
        return resolve(event)
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    origin = headers.get("origin")
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "")
    requested = headers.get("access-control-request-method")
    path = event.get("rawPath") or "/"
    if method.upper() == "OPTIONS" and origin and requested and not takes_options(path):
        return {
            "statusCode": 204,
            "headers": _preflight_headers(policy, origin, requested, headers),
            "body": "",
            "isBase64Encoded": False,
        }
    reply = dict(resolve(event))
    out = {k: v for k, v in (reply.get("headers") or {}).items() if not _is_cors(k)}
    if origin and policy.allows_origin(origin):
        out["Access-Control-Allow-Origin"] = policy.allow_origin_value(origin)
        if policy.expose_headers:
            out["Access-Control-Expose-Headers"] = ",".join(policy.expose_headers)
        if policy.allow_credentials:
            out["Access-Control-Allow-Credentials"] = "true"
    reply["headers"] = out
    if reply.get("multiValueHeaders"):
        reply["multiValueHeaders"] = {
            k: v for k, v in reply["multiValueHeaders"].items() if not _is_cors(k)
        }
    return reply


def _is_cors(header: str) -> bool:
    return header.lower().startswith("access-control-")


def _preflight_headers(
    policy: CorsPolicy, origin: str, requested: str, headers: Mapping[str, str]
) -> dict[str, str]:
    """The preflight answer's headers: all of them when the request is allowed, else none."""
    asked = [
        h.strip().lower() for h in headers.get("access-control-request-headers", "").split(",")
    ]
    allowed_headers = {h.lower() for h in policy.allow_headers}
    if not (
        policy.allows_origin(origin)
        and ("*" in policy.allow_methods or requested.strip().upper() in policy.allow_methods)
        and ("*" in allowed_headers or all(h in allowed_headers for h in asked if h))
    ):
        return {}
    out = {
        "Access-Control-Allow-Origin": policy.allow_origin_value(origin),
        "Access-Control-Allow-Methods": ",".join(policy.allow_methods),
        "Access-Control-Allow-Headers": ",".join(policy.allow_headers),
        "Access-Control-Max-Age": str(policy.max_age),
    }
    if policy.allow_credentials:
        out["Access-Control-Allow-Credentials"] = "true"
    return out
