"""``multipart/form-data`` request bodies (RFC 7578), parsed with python-multipart.

The body of an API Gateway request is already in memory (at most Lambda's 6 MB payload), so
parts are kept in memory as well: nothing spills to temporary files. Parts are sorted the way
Go's ``mime/multipart`` (which the Wippy runtime uses) sorts them: a part whose
Content-Disposition has a non-empty ``filename`` is a file, any other ``form-data`` part with a
name is a value, and parts without a ``form-data`` name are skipped.
"""

from __future__ import annotations

import email.message
import email.utils
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState

from runtime.http_media import parse_media_type

#: Parts one form may have (Go's ``multipartmaxparts`` default).
MAX_PARTS = 1000
#: What Go's ``Request.ParseMultipartForm`` lets values (non-file parts) add up to beyond
#: ``max_memory``.
VALUE_ALLOWANCE = 10 << 20
#: RFC 2046 section 5.1.1: a boundary is 1 to 70 characters.
MAX_BOUNDARY = 70


class MultipartError(ValueError):
    """The body is not a well-formed ``multipart/form-data`` message; the text says why."""


class NotMultipartError(MultipartError):
    """The request's Content-Type is not ``multipart/form-data`` at all."""


@dataclass
class FormFile:
    """An uploaded file: its form field, its file name (the last path segment of what the client
    sent), its part headers (lower-cased names, first value of each) and its bytes."""

    field: str
    filename: str
    headers: dict[str, str]
    content: bytes


@dataclass
class Form:
    """Values and files by field name, each in the order the parts came."""

    values: dict[str, list[bytes]] = field(default_factory=dict)
    files: dict[str, list[FormFile]] = field(default_factory=dict)


def boundary_of(content_type: str | None) -> str:
    """The boundary of a ``multipart/form-data`` Content-Type.

    Raises:
        NotMultipartError: the type is another one (or there is none).
        MultipartError: it has no usable boundary.
    """
    media = parse_media_type(content_type or "")
    if media is None or (media.type, media.subtype) != ("multipart", "form-data"):
        raise NotMultipartError(
            f"the Content-Type is {content_type!r}, not multipart/form-data"
            if content_type
            else "the request has no Content-Type (expected multipart/form-data)"
        )
    boundary = media.param("boundary")
    if not boundary:
        raise MultipartError("the multipart/form-data Content-Type has no boundary parameter")
    if len(boundary) > MAX_BOUNDARY:
        raise MultipartError(
            f"the multipart boundary is {len(boundary)} characters long (at most {MAX_BOUNDARY})"
        )
    return boundary


def _file_name(sent: str) -> str:
    """The last segment of a client-sent path, as Go's ``filepath.Base`` gives it (so
    ``../../etc/passwd`` is ``passwd``)."""
    trimmed = sent.rstrip("/")
    if not trimmed:
        return "/"
    return trimmed.rsplit("/", 1)[-1]


def _disposition(value: str) -> tuple[str | None, str | None]:
    """``(name, filename)`` of a ``form-data`` Content-Disposition (RFC 2231 ``filename*``
    decoded); ``(None, None)`` for any other disposition."""
    message = email.message.Message()
    message["content-disposition"] = value
    if message.get_content_disposition() != "form-data":
        return None, None
    name = message.get_param("name", header="content-disposition")
    if isinstance(name, tuple):
        name = email.utils.collapse_rfc2231_value(name)
    filename = message.get_filename()
    return (name if isinstance(name, str) else None), filename


class _Collector:
    """Callbacks for :class:`MultipartParser`: gathers each part's headers and bytes."""

    def __init__(self) -> None:
        self.parts: list[tuple[dict[str, str], bytes]] = []
        self._headers: dict[str, str] = {}
        self._data: list[bytes] = []
        self._field: list[bytes] = []
        self._value: list[bytes] = []

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._field.append(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.append(d[s:e]),
            "on_header_end": self._header_end,
            "on_part_data": lambda d, s, e: self._data.append(d[s:e]),
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        if len(self.parts) >= MAX_PARTS:
            raise MultipartError(f"the form has more than {MAX_PARTS} parts")
        self._headers, self._data = {}, []

    def _header_end(self) -> None:
        name = b"".join(self._field).decode("latin-1").strip().lower()
        value = b"".join(self._value).decode("utf-8", "replace").strip()
        self._field, self._value = [], []
        self._headers.setdefault(name, value)  # the first of repeated headers, as Go's Get

    def _end(self) -> None:
        self.parts.append((self._headers, b"".join(self._data)))


def parse_form(content_type: str | None, body: bytes, max_memory: int) -> Form:
    """Parse ``body`` as the ``multipart/form-data`` message ``content_type`` announces.

    ``max_memory`` is Go's ``ParseMultipartForm`` argument: values may add up to it plus
    :data:`VALUE_ALLOWANCE` bytes. Files are never limited by it (Go writes the excess to disk;
    here the whole body is in memory already).

    Raises:
        MultipartError: not multipart/form-data, no boundary, a malformed or truncated body,
            too many parts, or values over the limit.
    """
    boundary = boundary_of(content_type)
    collector = _Collector()
    try:
        parser = MultipartParser(boundary.encode("latin-1", "replace"), collector.callbacks())
        parser.write(body)
    except FormParserError as exc:
        raise MultipartError(f"malformed multipart body: {exc}") from None
    if parser.state != MultipartState.END:
        if not body.strip():
            raise MultipartError("the multipart body is empty")
        raise MultipartError(
            f"the multipart body ends before its closing boundary '--{boundary}--'"
        )
    form = Form()
    value_bytes = 0
    for headers, content in collector.parts:
        name, filename = _disposition(headers.get("content-disposition", ""))
        if not name:
            continue
        if filename:
            part = FormFile(name, _file_name(filename), headers, content)
            form.files.setdefault(name, []).append(part)
            continue
        value_bytes += len(content)
        if value_bytes > max_memory + VALUE_ALLOWANCE:
            raise MultipartError(
                f"the form's values are over {max_memory + VALUE_ALLOWANCE} bytes "
                f"(max_memory {max_memory} + {VALUE_ALLOWANCE})"
            )
        form.values.setdefault(name, []).append(content)
    return form
