"""Process ids: ``<host id>/<uuid>``, so a pid alone says which queue its mailbox is."""

from __future__ import annotations

import hashlib
import uuid

from runtime.errors import INVALID, UnitError


def new_pid(host_id: str) -> str:
    """A fresh pid on ``host_id``."""
    return f"{host_id}/{uuid.uuid4()}"


def service_pid(host_id: str, service_id: str, generation: int) -> str:
    """The pid of a service's ``generation``-th start: deterministic, so a duplicated restart
    message spawns the same pid twice and the second spawn is ignored."""
    digest = hashlib.sha1(f"{service_id}|{generation}".encode()).hexdigest()[:12]
    return f"{host_id}/svc-{service_id.replace(':', '.')}-{generation}-{digest}"


def host_of(pid: str) -> str:
    """The host id of ``pid``.

    Raises:
        UnitError: INVALID when ``pid`` is not a pid.
    """
    host, sep, rest = pid.rpartition("/")
    if not sep or not host or not rest or ":" not in host:
        raise UnitError(INVALID, f"'{pid}' is not a process id (expected '<host>/<id>')")
    return host


def is_pid(text: str) -> bool:
    """True when ``text`` has the shape of a pid (a registered name never contains '/')."""
    try:
        host_of(text)
    except UnitError:
        return False
    return True
