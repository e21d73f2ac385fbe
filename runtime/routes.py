"""Matching requests to ``http.endpoint`` entries: path templates with ``{param}`` and a final
greedy ``{rest...}``, 404 for unknown paths and 405 (with the allowed methods) for known paths
asked with another method."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from runtime.manifest import EndpointEntry, Registry

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}")


@dataclass(frozen=True)
class Route:
    """One endpoint with its compiled path pattern."""

    endpoint: EndpointEntry
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Match:
    endpoint: EndpointEntry
    params: dict[str, str]


@dataclass(frozen=True)
class MethodNotAllowed:
    allowed: tuple[str, ...]


def compile_path(template: str) -> re.Pattern[str]:
    """``/users/{id}/files/{rest...}`` -> a regex with named groups ``id`` and ``rest``."""
    out, pos = [], 0
    for m in _PARAM.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(out) + "$")


class Router:
    """The routing table of an application."""

    def __init__(self, registry: Registry) -> None:
        self.routes = [Route(ep, compile_path(ep.path)) for ep in registry.of_kind(EndpointEntry)]
        # Literal paths win over templated ones, as in API Gateway.
        self.routes.sort(key=lambda r: (r.endpoint.path.count("{"), -len(r.endpoint.path)))

    def match(self, method: str, path: str) -> Match | MethodNotAllowed | None:
        """The endpoint for ``method path``, a :class:`MethodNotAllowed`, or None (404)."""
        method = method.upper()
        allowed: list[str] = []
        for route in self.routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            ep_method = route.endpoint.method
            if ep_method == method or (method == "HEAD" and ep_method == "GET"):
                return Match(route.endpoint, {k: unquote(v) for k, v in m.groupdict().items()})
            allowed.append(ep_method)
        if allowed:
            return MethodNotAllowed(tuple(sorted(set(allowed))))
        return None
