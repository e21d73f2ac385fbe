"""boto3 clients made on first use.

A boto3 client costs tens of milliseconds to build, which a Lambda pays in its cold start; most
invocations of a function Lambda never send to a process or call a remote function, so the
clients they would need are built only when one does.
"""

from __future__ import annotations

from typing import Any


class LazyClient:
    """Stands in for ``boto3.client(service)`` and builds it at the first attribute access."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client(self._service)
        return getattr(self._client, name)
