"""Media types in HTTP headers: parsing ``type/subtype; k=v`` values, content negotiation over
an ``Accept`` header (RFC 9110 section 12.5.1: q-values, wildcards, most specific range wins),
and the Content-Type test of ``req:is_content_type``."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A list item or parameter boundary, skipping separators inside quoted strings.
_ITEMS = re.compile(r'(?:[^,"]|"(?:\\.|[^"\\])*")+')
_PARAMS = re.compile(r'(?:[^;"]|"(?:\\.|[^"\\])*")+')
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_QVALUE = re.compile(r"^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$")


@dataclass(frozen=True)
class MediaType:
    """A parsed media type or media range: lower-cased type, subtype and parameter names."""

    type: str
    subtype: str
    params: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class MediaRange:
    """One entry of an Accept header with its quality."""

    media: MediaType
    q: float

    @property
    def specificity(self) -> tuple[int, int, int]:
        return (
            self.media.type != "*",
            self.media.subtype != "*",
            len(self.media.params),
        )


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_media_type(text: str) -> MediaType | None:
    """``"Text/HTML; Charset=UTF-8"`` -> ``MediaType("text", "html", (("charset", "UTF-8"),))``;
    None when ``text`` is not ``type/subtype`` made of tokens."""
    pieces = _PARAMS.findall(text)
    if not pieces:
        return None
    kind, slash, sub = pieces[0].strip().partition("/")
    kind, sub = kind.strip().lower(), sub.strip().lower()
    if not slash or not _TOKEN.match(kind) or not _TOKEN.match(sub):
        return None
    params = []
    for piece in pieces[1:]:
        name, eq, value = piece.partition("=")
        name = name.strip().lower()
        if not eq or not _TOKEN.match(name):
            continue  # a malformed parameter is dropped, not the whole type
        value = _unquote(value)
        # Charset names are case-insensitive (RFC 9110 8.3.2); other values are compared as is.
        params.append((name, value.lower() if name == "charset" else value))
    return MediaType(kind, sub, tuple(params))


def parse_accept(header: str) -> list[MediaRange]:
    """The media ranges of an Accept header; malformed entries are skipped. A bare ``*`` (sent
    by some clients for ``*/*``) is read as ``*/*``."""
    ranges = []
    for item in _ITEMS.findall(header):
        item = item.strip()
        if not item:
            continue
        if item == "*" or item.startswith(("*;", "* ;")):
            item = "*/*" + item[1:]
        media = parse_media_type(item)
        if media is None or (media.type == "*" and media.subtype != "*"):
            continue
        q = 1.0
        params = []
        seen_q = False
        for name, value in media.params:
            if seen_q:
                continue  # accept-ext parameters after q do not restrict the range
            if name == "q":
                seen_q = True
                if not _QVALUE.match(value):
                    q = -1.0
                    break
                q = float(value)
            else:
                params.append((name, value))
        if q < 0:
            continue
        ranges.append(MediaRange(MediaType(media.type, media.subtype, tuple(params)), q))
    return ranges


def _range_matches(media_range: MediaType, offered: MediaType) -> bool:
    if media_range.type != "*" and media_range.type != offered.type:
        return False
    if media_range.subtype != "*" and media_range.subtype != offered.subtype:
        return False
    offered_params = dict(offered.params)
    return all(offered_params.get(k) == v for k, v in media_range.params)


def quality(header: str | None, offered: MediaType) -> float:
    """The quality the Accept ``header`` gives ``offered``: that of the most specific range
    matching it, 0 when none does, 1 when there is no Accept header at all (the client takes
    anything)."""
    if header is None or not header.strip():
        return 1.0
    best: MediaRange | None = None
    for media_range in parse_accept(header):
        if _range_matches(media_range.media, offered) and (
            best is None or media_range.specificity > best.specificity
        ):
            best = media_range
    return best.q if best is not None else 0.0


def content_type_is(actual: str | None, expected: str) -> bool:
    """Whether the Content-Type ``actual`` is ``expected``: the same type/subtype (any case,
    parameters of ``actual`` ignored unless ``expected`` names them), ``type/*`` or ``*/*``
    for any subtype, and a bare ``type`` or ``type/`` for the whole family (``"multipart"``)."""
    if not actual:
        return False
    have = parse_media_type(actual)
    if have is None:
        return False
    wanted = expected.strip().lower()
    if "/" not in wanted or wanted.endswith("/"):
        return have.type == wanted.rstrip("/")
    want = parse_media_type(expected)
    if want is None:
        return False
    return _range_matches(want, have)
