"""Error types shared by every part of the kit.

Lua code sees errors as values with a kind, a message, a retryable flag and details (Wippy's
``errors`` global: ``errors.new({message=, kind=, retryable=, details=})``, ``err:kind()``);
Python code sees the same errors as :class:`UnitError` exceptions. Both carry one of
:data:`KINDS`, spelled as the Wippy runtime spells them (``errors.NOT_FOUND == "NotFound"``,
``errors.UNKNOWN == ""``).
"""

from __future__ import annotations

from typing import Any

UNKNOWN = ""
INVALID = "Invalid"
NOT_FOUND = "NotFound"
ALREADY_EXISTS = "AlreadyExists"
PERMISSION_DENIED = "PermissionDenied"
UNAVAILABLE = "Unavailable"
INTERNAL = "Internal"
CANCELED = "Canceled"
CONFLICT = "Conflict"
TIMEOUT = "Timeout"
RATE_LIMITED = "RateLimited"

#: The Lua constant name of each kind (``errors.NOT_FOUND``), in Wippy's order.
KIND_NAMES: dict[str, str] = {
    "UNKNOWN": UNKNOWN,
    "INVALID": INVALID,
    "NOT_FOUND": NOT_FOUND,
    "ALREADY_EXISTS": ALREADY_EXISTS,
    "PERMISSION_DENIED": PERMISSION_DENIED,
    "UNAVAILABLE": UNAVAILABLE,
    "INTERNAL": INTERNAL,
    "CANCELED": CANCELED,
    "CONFLICT": CONFLICT,
    "TIMEOUT": TIMEOUT,
    "RATE_LIMITED": RATE_LIMITED,
}

#: Every error kind Lua code can create or receive.
KINDS: tuple[str, ...] = tuple(KIND_NAMES.values())

#: Kinds whose operation is worth retrying when the error itself does not say (Wippy's table in
#: its errors page: timeouts, outages, rate limits).
RETRYABLE_KINDS: frozenset[str] = frozenset({TIMEOUT, UNAVAILABLE, RATE_LIMITED})


def kind_of(name: str) -> str | None:
    """The kind ``name`` means: a kind value (``"NotFound"``) or a constant name
    (``"NOT_FOUND"``), as option tables and manifests may write either; None if neither."""
    if name in KINDS:
        return name
    return KIND_NAMES.get(name)


class UnitError(Exception):
    """An error with a kind: raised to Python callers, returned to Lua callers as ``nil, err``.

    ``retryable`` is Wippy's three-state flag: True, False, or None when the error does not say.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        retryable: bool | None = None,
    ) -> None:
        kind = kind_of(kind) if isinstance(kind, str) else None
        if kind is None:
            kind = INTERNAL
        super().__init__(f"{kind}: {message}" if kind else message)
        self.kind = kind
        self.message = message
        self.details = details or {}
        self.retryable = retryable

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-able dict, the shape handlers return and remote calls carry."""
        out: dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.retryable is not None:
            out["retryable"] = self.retryable
        if self.details:
            out["details"] = self.details
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UnitError:
        """Rebuild an error from :meth:`to_dict` output (for example a remote function's reply)."""
        retryable = data.get("retryable")
        return cls(
            str(data.get("kind", INTERNAL)),
            str(data.get("message", "")),
            data.get("details"),
            retryable=retryable if isinstance(retryable, bool) else None,
        )


class ManifestError(UnitError):
    """An application folder failed to load. ``problems`` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        summary = (
            problems[0]
            if len(problems) == 1
            else f"{len(problems)} problems:\n  " + "\n  ".join(problems)
        )
        super().__init__(INVALID, summary)


class CodecError(UnitError):
    """A value cannot cross the Lua/Python/JSON boundary. ``path`` names the offending part."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(INVALID, f"{path}: {reason}")
