"""Fault injection at the AWS boundary: every boto3 call a unit's handler makes can be made to
crash the handler before the call, crash it after the call took effect, or fail with the
service's throttling error; the event source's delete can be lost (a duplicate delivery).

The handler running in the current thread is known by wrapping the handlers' entry points, so
a fault lands only in the unit it is meant for (not in the harness's own polling), and the
crash is the exception that unit's runner treats as a dead Lambda (``WorkerCrash`` for a
process worker, ``StepCrash`` for the workflow Lambdas)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from runtime.processes.worker import ProcessWorker, WorkerCrash
from runtime.workflows.host import StepCrash, WorkflowHost

#: A fault for whatever makes the call: a function's remote invoke runs on an I/O thread that
#: knows no handler (the function Lambda is the only thing running there).
ANY = "function"

#: The modes of :class:`Fault`.
MODES = ("crash_before", "crash_after", "throttle")

#: Each service's throttling error, as boto3 raises it once its own retries gave up.
_THROTTLE_CODES = {
    "dynamodb": "ProvisionedThroughputExceededException",
    "sqs": "RequestThrottled",
    "sfn": "ThrottlingException",
    "lambda": "TooManyRequestsException",
}


class FunctionCrash(BaseException):
    """The function Lambda died mid-call (its caller's request fails; nothing to redeliver)."""


#: Which crash stands for the death of each handler's Lambda.
_CRASHES: dict[str, type[BaseException]] = {
    "function": FunctionCrash,
    "process worker": WorkerCrash,
    "workflow step": StepCrash,
    "workflow activity": StepCrash,
}

_HANDLERS = {
    "process worker": (ProcessWorker, "handle"),
    "workflow step": (WorkflowHost, "step"),
    "workflow activity": (WorkflowHost, "run_activity"),
}


@dataclass
class Fault:
    """Fail the ``nth`` ``service.operation`` call ``handler`` makes once armed."""

    handler: str
    call: str
    mode: str
    nth: int = 1
    fired: bool = False
    _passed: int = 0

    def matches(self, handler: str, call: str) -> bool:
        """Whether this call is the one to fail (counting the calls that match)."""
        if self.fired or self.call != call or self.handler not in (handler, ANY):
            return False
        self._passed += 1
        return self._passed == self.nth


@dataclass
class AwsFaults:
    """Records the AWS calls each handler makes and fires armed faults."""

    seen: list[tuple[str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lost_deletes: int = 0
    _local: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self) -> str | None:
        return getattr(self._local, "handler", None)

    def arm(self, handler: str, call: str, mode: str, nth: int = 1) -> Fault:
        fault = Fault(handler, call, mode, nth)
        self.faults.append(fault)
        return fault

    def points(self, prefix: str, most: int) -> list[tuple[str, str, int]]:
        """Each (handler, service.operation, nth occurrence) seen so far from handlers whose
        name starts with ``prefix``, up to ``most`` occurrences of each."""
        counts: dict[tuple[str, str], int] = {}
        for handler, call in self.seen:
            if handler.startswith(prefix):
                counts[(handler, call)] = counts.get((handler, call), 0) + 1
        return [
            (h, c, n) for (h, c), total in counts.items() for n in range(1, min(total, most) + 1)
        ]

    # -- the boto3 seam ---------------------------------------------------------------------
    def around_call(self, client: BaseClient, operation: str, call: Callable[[], Any]) -> Any:
        service = client.meta.service_model.service_name
        name = f"{service}.{operation}"
        handler = self.current()
        if handler is None and operation == "DeleteMessageBatch" and self._take_lost_delete():
            # The event source's delete never reached SQS: the batch comes back.
            return {"Successful": [], "Failed": []}
        with self._lock:
            if handler is not None:
                self.seen.append((handler, name))
            fault = next((f for f in self.faults if f.matches(handler or ANY, name)), None)
            if fault is not None:
                fault.fired = True
        if fault is None:
            return call()
        crash = _CRASHES[fault.handler]
        if fault.mode == "crash_before":
            raise crash(f"{handler} killed before {name}")
        if fault.mode == "throttle":
            code = _THROTTLE_CODES.get(service, "ThrottlingException")
            error = {"Error": {"Code": code, "Message": "Rate exceeded (injected)"}}
            raise ClientError(error, operation)
        call()  # it took effect; the handler dies before it sees the reply
        raise crash(f"{handler} killed after {name}")

    def _take_lost_delete(self) -> bool:
        with self._lock:
            if self.lost_deletes <= 0:
                return False
            self.lost_deletes -= 1
            return True

    # -- the handlers' seam -----------------------------------------------------------------
    @contextmanager
    def running(self, handler: str) -> Iterator[None]:
        outer = self.current()
        self._local.handler = handler
        try:
            yield
        finally:
            self._local.handler = outer


@contextmanager
def injected(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsFaults]:
    """Install the seams for the duration of a test."""
    faults = AwsFaults()
    original_call = BaseClient._make_api_call

    def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        return faults.around_call(
            client, operation, lambda: original_call(client, operation, params)
        )

    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
    for handler, (cls, method) in _HANDLERS.items():
        monkeypatch.setattr(cls, method, _wrapped(faults, handler, getattr(cls, method)))
    yield faults


def _wrapped(faults: AwsFaults, handler: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        with faults.running(handler):
            return method(*args, **kwargs)

    return run
