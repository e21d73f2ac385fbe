"""Service limits the kit checks itself, so that breaking one is a clear error, not a 502."""

from __future__ import annotations

#: A synchronous Lambda invoke carries at most 6 MB each way (request and response payloads).
LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024


def payload_too_large(what: str, size: int, limit: int = LAMBDA_PAYLOAD_BYTES) -> str | None:
    """The error message when ``size`` bytes exceed ``limit``, else None."""
    if size <= limit:
        return None
    return f"{what} is {size} bytes; a Lambda payload carries at most {limit} bytes (6 MB)"
