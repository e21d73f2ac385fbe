"""A throwaway PostgreSQL server for tests and the bench: ``initdb`` into a temporary folder,
``pg_ctl start`` on a free port (TCP on 127.0.0.1 only, no fsync: the data is thrown away),
stopped and removed at the end.

PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user
(the Debian package creates it) and the binaries run through ``runuser``. The binaries are
looked for on PATH, then in ``/usr/lib/postgresql/<version>/bin``; when none is found the
fixture fails (``.ci/run`` installs the ``postgresql`` package): no test is silently skipped.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PgServer:
    """Where the server listens and who may log in (``trust`` on 127.0.0.1: no password is
    needed, though a given one is sent)."""

    host: str
    port: int
    user: str
    database: str

    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={self.database}"


def find_binaries() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``.

    Raises:
        RuntimeError: PostgreSQL is not installed (say how to install it).
    """
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    raise RuntimeError(
        "PostgreSQL is not installed: the sql tests need a real server (initdb and pg_ctl). "
        "Install it with `apt-get install -y postgresql` (.ci/run does)."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[PgServer]:
    """Start a server; stop it and delete its files on exit."""
    binaries = find_binaries()
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    if as_root:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "running as root, PostgreSQL needs an unprivileged user to run as: the "
                "'postgres' user (created by `apt-get install postgresql`) does not exist"
            ) from None
        prefix = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="units-pg-"))
    data = folder / "data"
    if as_root:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    user = "units"

    def run(*args: str) -> None:
        result = subprocess.run([*prefix, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stderr or result.stdout}")

    try:
        run(
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            user,
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run(
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(folder / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )
        try:
            yield PgServer("127.0.0.1", port, user, "postgres")
        finally:
            subprocess.run(
                [*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                check=False,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
