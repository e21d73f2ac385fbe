"""Error types shared by every part of the kit.

Lua code sees errors as values with a kind (``errors.new(kind, msg)``, ``err:kind()``); Python
code sees the same errors as :class:`UnitError` exceptions. Both carry one of :data:`KINDS`.
"""

from __future__ import annotations

from typing import Any

INVALID = "INVALID"
NOT_FOUND = "NOT_FOUND"
ALREADY_EXISTS = "ALREADY_EXISTS"
PERMISSION_DENIED = "PERMISSION_DENIED"
TIMEOUT = "TIMEOUT"
CANCELED = "CANCELED"
INTERNAL = "INTERNAL"

#: Every error kind Lua code can create or receive.
KINDS: tuple[str, ...] = (
    INVALID,
    NOT_FOUND,
    ALREADY_EXISTS,
    PERMISSION_DENIED,
    TIMEOUT,
    CANCELED,
    INTERNAL,
)


class UnitError(Exception):
    """An error with a kind: raised to Python callers, returned to Lua callers as ``nil, err``."""

    def __init__(self, kind: str, message: str, details: dict[str, Any] | None = None) -> None:
        if kind not in KINDS:
            kind = INTERNAL
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-able dict, the shape handlers return and remote calls carry."""
        out: dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UnitError:
        """Rebuild an error from :meth:`to_dict` output (for example a remote function's reply)."""
        return cls(
            str(data.get("kind", INTERNAL)), str(data.get("message", "")), data.get("details")
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
