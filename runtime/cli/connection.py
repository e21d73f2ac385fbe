"""A target, and the runtime's own objects built over it for the commands to use.

The commands never talk to AWS in their own way: sends go through the process system's
mailboxes, starts and signals through the workflow client, reads through
:class:`runtime.inspection.Inspector`, exactly as a Lambda of the stack would. Only the clients'
endpoint differs between the dev stack and a deployed one.
"""

from __future__ import annotations

import os
import time
from functools import cached_property
from pathlib import Path
from typing import Any

from runtime import manifest
from runtime.cli.common import EXIT_USAGE, CliError
from runtime.cli.local import app_hint
from runtime.clock import Clock, WallClock
from runtime.errors import ManifestError
from runtime.inspection import Inspector
from runtime.processes.mailboxes import Mailboxes
from runtime.processes.store import ActorStore
from runtime.processes.system import ProcessSystem
from runtime.resource_views import ResourceViews
from runtime.targets import Target, dev_request
from runtime.workflows.client import Workflows
from runtime.workflows.driver import Driver
from runtime.workflows.log import EventLog

_NEEDS_TABLE = "a process.host or workflow.host in the application"
_NEEDS_WORKFLOWS = "a workflow.host in the application"


class Connection:
    """What the commands work with: ``target``, its clients, and the runtime's objects.

    ``app`` is the application folder for the commands that check entries against the manifest
    (``spawn``, ``workflow start``); ``clock`` stamps what the commands write (the wall clock;
    the tests pass the harness's).
    """

    def __init__(
        self, target: Target, *, app: str | Path | None = None, clock: Clock | None = None
    ) -> None:
        self.target = target
        self.app = app
        self.clock = clock or WallClock()
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """The target's boto3 client for ``service`` (one per service)."""
        if service not in self._clients:
            self._clients[service] = self.target.client(service)
        return self._clients[service]

    def sleep(self, seconds: float) -> None:
        """Wait between polls (``--wait``, ``--follow``)."""
        time.sleep(seconds)

    # -- resources ------------------------------------------------------------------------------
    @property
    def table(self) -> str:
        return self.target.output("ProcessTableName", _NEEDS_TABLE)

    @property
    def machines(self) -> dict[str, str]:
        """Workflow host id -> driver state machine ARN (empty without workflow hosts)."""
        return self.target.host_map("WorkflowMachines")

    def run_id(self, address: str) -> str:
        """The run id of a run address (``<workflow host>/<run id>``) or of a bare run id."""
        return address.rpartition("/")[2] if self.is_run(address) else address

    def is_run(self, address: str) -> bool:
        """Whether ``address`` names a run (its host part is a workflow host)."""
        host, sep, _ = address.rpartition("/")
        return bool(sep) and host in self.machines

    # -- the runtime's objects -------------------------------------------------------------------
    @cached_property
    def inspector(self) -> Inspector:
        return Inspector(
            self.client("dynamodb"),
            self.table,
            sqs=self.client("sqs"),
            sfn=self.client("stepfunctions"),
            queues=self.target.host_map("ProcessQueues"),
            delay_queues=self.target.host_map("ProcessDelayQueues"),
            dead_letter_queues=self.target.host_map("ProcessDeadLetterQueues"),
            machines=self.machines,
        )

    @cached_property
    def resource_views(self) -> ResourceViews:
        """The stores, buckets and queues the target's outputs name (none when it has none)."""
        t = self.target
        stores, buckets, queues = t.host_map("Stores"), t.host_map("Buckets"), t.host_map("Queues")
        return ResourceViews(
            dynamodb=self.client("dynamodb") if stores else None,
            s3=self.client("s3") if buckets else None,
            sqs=self.client("sqs") if queues else None,
            store_table=t.outputs.get("StoreTableName") or None,
            stores=stores,
            buckets=buckets,
            queues=queues,
            dead_letter_queues=t.host_map("QueueDeadLetterQueues"),
        )

    def driver(self) -> Driver:
        """Starts and wakes driver executions of the target's workflow hosts."""
        return Driver(self.client("stepfunctions"), self.machines)

    def workflows(self, registry: manifest.Registry | None = None) -> Workflows:
        """The workflow client. Without ``registry`` it can do everything but start runs
        (which checks the workflow id against the manifest); give it bare run ids.

        Raises:
            TargetError: the target has no workflow hosts.
        """
        self.target.output("WorkflowMachines", _NEEDS_WORKFLOWS)
        log = EventLog(self.client("dynamodb"), self.table)
        return Workflows(registry or _no_entries(), log, self.driver(), self.clock)

    def processes(self, registry: manifest.Registry | None = None) -> ProcessSystem:
        """The process system. Without ``registry`` it can send but not spawn (which checks
        the entry and host against the manifest)."""
        queues = self.target.host_map("ProcessQueues")
        if not queues:
            self.target.output("ProcessQueues", "a process.host in the application")
        mailboxes = Mailboxes(
            self.client("sqs"), queues, self.target.host_map("ProcessDelayQueues"), self.clock
        )
        store = ActorStore(self.client("dynamodb"), self.table)
        return ProcessSystem(registry or _no_entries(), store, mailboxes, self.clock)

    def registry(self, app: str | None, command: str) -> manifest.Registry:
        """The application's manifest, from ``app``, else the connection's app folder, else
        ``$UNITS_APP``, else the folder the dev server runs, else the current folder.

        Raises:
            CliError: no application folder, or one that does not load.
        """
        folder = app or self.app or os.environ.get("UNITS_APP") or self._dev_app()
        if folder is None and Path("_index.yaml").is_file():
            folder = "."
        if folder is None:
            raise CliError(
                f"units {command} checks the entry against the application's manifest: pass "
                "--app DIR or set UNITS_APP",
                EXIT_USAGE,
            )
        implicit = folder == "." and not (app or self.app or os.environ.get("UNITS_APP"))
        try:
            registry = manifest.load_app(Path(folder))
        except ManifestError as exc:
            message = f"cannot load {folder}:\n  " + "\n  ".join(exc.problems)
            if implicit:
                message += "\n" + app_hint(Path(folder))
            raise CliError(message) from None
        manifest.announce(registry)  # skipped entries and settings not applied, on stderr
        return registry

    def _dev_app(self) -> str | None:
        """The folder the dev server runs (``GET /_units/api/status``), if it is one here."""
        if not self.target.dev_url:
            return None
        status = dev_request(self.target.dev_url, "/status")
        folder = status.get("app") if isinstance(status, dict) else None
        # The server's path may be relative to where it was started: use it only if it is a
        # folder from here too.
        return str(folder) if folder and Path(folder).is_dir() else None


def _no_entries() -> manifest.Registry:
    return manifest.Registry(Path("."), {})
