"""The sample requests an app declares for ``units dev``'s banner (the ``try:`` lines).

An ``http.endpoint`` or a ``function.lua`` entry may carry, under Wippy's free-form ``meta``,
the requests that show it working::

    - name: join.http
      kind: http.endpoint
      method: POST
      path: /rooms/{room}/members
      func: join
      meta:
        dev:
          try:
            - params: {room: lobby}      # every {param} of the path
              query: {verbose: "1"}      # optional
              body: {name: ada}          # optional: sent as JSON
              note: needs ...            # optional: shown after the command

    - name: reserve
      kind: function.lua
      ...
      meta:
        dev:
          try:
            - args: [{id: o1, items: [1]}]   # through the management API's invoke

``try`` is a list of samples (or one sample). The method and the path come from the entry
itself, so a line follows the route when it changes; a sample that does not fit its entry (a
missing or unknown path parameter, a field that is not one of these) is not shown, and
:func:`sample_requests` says why. Nothing here is read outside ``units dev``: the kit runs
``meta`` as Wippy does, as data.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from runtime import manifest

#: The fields of one endpoint sample, and of one function sample.
ENDPOINT_FIELDS = frozenset({"params", "query", "body", "note"})
FUNCTION_FIELDS = frozenset({"args", "note"})


@dataclass(frozen=True)
class Sample:
    """One request: the entry it shows, the shell command, and a note to print after it."""

    entry: str
    command: str
    note: str | None = None

    def line(self) -> str:
        """The banner's line: the command, then the note as a shell comment."""
        return self.command + (f"  # {self.note}" if self.note else "")


def sample_requests(
    registry: manifest.Registry, base_url: str
) -> tuple[list[Sample], list[str], list[manifest.EndpointEntry]]:
    """The declared samples of ``registry`` as curl commands against ``base_url`` (in entry
    order), the problems of those that do not fit their entry, and the endpoints that declare
    none."""
    samples: list[Sample] = []
    problems: list[str] = []
    undeclared: list[manifest.EndpointEntry] = []
    for entry in registry.entries.values():
        if not isinstance(entry, manifest.EndpointEntry | manifest.FunctionEntry):
            continue
        raw = _declared(entry, problems)
        if raw is None:
            if isinstance(entry, manifest.EndpointEntry):
                undeclared.append(entry)
            continue
        for i, sample in enumerate(raw):
            where = f"{entry.file}: entry '{entry.id}' meta.dev.try[{i}]"
            try:
                if isinstance(entry, manifest.EndpointEntry):
                    samples.append(_endpoint_sample(entry, sample, base_url))
                else:
                    samples.append(_function_sample(entry, sample, base_url))
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
    # The HTTP API first, then the functions reached through the management API.
    samples.sort(key=lambda s: s.command.startswith("curl") and "/_units/api/invoke" in s.command)
    return samples, problems, undeclared


def _declared(entry: manifest.Entry, problems: list[str]) -> list[Any] | None:
    dev = entry.meta.get("dev")
    if dev is None:
        return None
    where = f"{entry.file}: entry '{entry.id}' meta.dev"
    if not isinstance(dev, dict) or "try" not in dev:
        problems.append(f"{where}: expected a mapping with 'try' (a sample or a list of them)")
        return None
    raw = dev["try"]
    return raw if isinstance(raw, list) else [raw]


def _fields(sample: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(sample, dict):
        raise ValueError(f"expected a mapping of {', '.join(sorted(allowed))}")
    unknown = sorted(set(sample) - allowed)
    if unknown:
        raise ValueError(
            f"unknown field {', '.join(map(repr, unknown))} "
            f"(a sample has: {', '.join(sorted(allowed))})"
        )
    note = sample.get("note")
    if note is not None and not isinstance(note, str):
        raise ValueError("note: expected text")
    return sample


def _endpoint_sample(entry: manifest.EndpointEntry, raw: Any, base_url: str) -> Sample:
    sample = _fields(raw, ENDPOINT_FIELDS)
    params = sample.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError("params: expected a mapping of the path's parameters")
    missing = [p for p in entry.params if p not in params]
    unknown = sorted(set(params) - set(entry.params))
    if missing:
        raise ValueError(f"params: no value for {', '.join(missing)} (path {entry.path})")
    if unknown:
        raise ValueError(f"params: {', '.join(unknown)} is not a parameter of {entry.path}")
    path = entry.path
    for name in entry.params:
        value = quote(str(params[name]), safe="/" if name == entry.greedy else "")
        path = path.replace("{" + name + "...}", value).replace("{" + name + "}", value)
    query = sample.get("query")
    if query is not None and not isinstance(query, dict):
        raise ValueError("query: expected a mapping")
    url = base_url + path + (f"?{urlencode(query, safe=',')}" if query else "")
    words = ["curl"]
    has_body = "body" in sample and sample["body"] is not None
    # curl's -d makes a POST by itself; any other method with a body, or without one but not
    # GET, is said with -X.
    if not (entry.method == "GET" and not has_body) and not (entry.method == "POST" and has_body):
        words += ["-X", entry.method]
    words.append(shlex.quote(url))
    if has_body:
        body = _json(sample["body"], "body")
        words += ["-H", shlex.quote("content-type: application/json"), "-d", shlex.quote(body)]
    return Sample(entry.id, " ".join(words), sample.get("note"))


def _function_sample(entry: manifest.FunctionEntry, raw: Any, base_url: str) -> Sample:
    sample = _fields(raw, FUNCTION_FIELDS)
    args = sample.get("args", [])
    if not isinstance(args, list):
        raise ValueError("args: expected a list (the function's arguments)")
    body = _json({"id": entry.id, "args": args}, "args")
    url = shlex.quote(f"{base_url}/_units/api/invoke")
    return Sample(entry.id, f"curl {url} -d {shlex.quote(body)}", sample.get("note"))


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:  # YAML's dates and the like
        raise ValueError(f"{what}: not JSON ({exc}); quote it in the YAML") from None


def route_line(entry: manifest.EndpointEntry, base_url: str) -> str:
    """An endpoint without samples, as ``METHOD URL`` with its ``{params}`` as written."""
    return f"{entry.method:<6} {base_url}{entry.path}"
