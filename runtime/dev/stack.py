"""``units dev``: the whole stack on this machine, assembled and run until stopped.

:class:`DevStack` owns the pieces and their threads: the cloud (moto, in-process and served),
the dev server, one pump per queue consumer, and the watcher that reloads changed code. Start
and stop it from any thread; :func:`runtime.dev.main` runs one in the foreground.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from runtime import manifest
from runtime.dev.cloud import DevCloud
from runtime.dev.gate import Gate
from runtime.dev.logs import SYSTEM_UNIT, HubHandler, LogHub
from runtime.dev.pumps import Doorbell, Pump
from runtime.dev.server import VIEWER, DevServer
from runtime.dev.watch import POLL_INTERVAL, AppWatcher, load_checked


class DevStack:
    """An app served on ``http://host:port`` (port 0: a free one) with everything behind it.

    ``start()`` raises :class:`~runtime.dev.server.PortInUse` when the port is taken and
    ``ValueError`` when the app does not load; nothing is left running either way.
    """

    def __init__(
        self,
        app: str | Path,
        *,
        port: int = 8787,
        host: str = "127.0.0.1",
        hub: LogHub | None = None,
        watch_interval: float = POLL_INTERVAL,
    ) -> None:
        self.app = Path(app)
        self.port = port
        self.host = host
        self.hub = hub or LogHub()
        self.watch_interval = watch_interval
        self.gate = Gate()
        self.bell = Doorbell()
        self.cloud: DevCloud = None  # type: ignore[assignment]
        self.url = ""
        self.started_at = 0.0
        self.generation = 0
        self.reload_error: str | None = None
        self._warning: str | None = None  # the load's warning last shown
        self.reloaded_at: float | None = None
        self._pumps: dict[str, Pump] = {}
        self._server: DevServer | None = None
        self._server_thread: threading.Thread | None = None
        self._watcher: AppWatcher | None = None
        self._log_handler = HubHandler(self.hub)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Bring everything up; returns once requests are served."""
        self.started_at = time.time()
        # Bind first: a taken port fails in milliseconds, before moto and the engines start.
        self._server = DevServer(self.host, self.port, self)
        try:
            load_checked(self.app)  # Lua syntax errors too, not only the manifest's
            self.cloud = DevCloud(self.app, self.hub, host=self.host)
            self.cloud.on_activity = self.bell.ring
            self.cloud.__enter__()
        except BaseException:
            self._server.server_close()
            self._server = None
            raise
        self.generation = 1
        self._log_handler.attach()
        self._show_warning(self.cloud.registry)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._sync_pumps()
        self._watcher = AppWatcher(
            self.app, self._reload, self._reload_failed, interval=self.watch_interval
        )
        self._watcher.start()
        self._server_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="units-dev-http",
            daemon=True,
        )
        self._server_thread.start()

    def wait_for_services(self, timeout: float = 5.0) -> list[str]:
        """Wait until the auto-started services have run their first turns: every process
        host's queue drained once and every ``registry_name`` registered (a service may also
        register a name in its own code), so that the banner's samples may reach them by
        name. Returns what is still not there after ``timeout`` seconds (a service that
        crashes at start, one that never stops sending)."""
        cloud = self.cloud
        if cloud.processes is None:
            return []
        names = [
            s.registry_name
            for s in cloud.registry.of_kind(manifest.ServiceEntry)
            if s.registry_name and s.lifecycle.auto_start
        ]
        pumps = {n: p for n, p in self._pumps.items() if n.startswith("process:")}
        deadline = time.monotonic() + timeout
        while True:
            missing = [n for n in names if cloud.processes.system.store.lookup(n) is None]
            missing += [f"{n} (not drained)" for n, p in pumps.items() if not p.idle.is_set()]
            if not missing or time.monotonic() >= deadline:
                return missing
            self.bell.ring()
            time.sleep(0.05)  # the pumps' threads do the work; this only looks

    def stop(self) -> None:
        """Stop serving, join every thread of ours, stop moto. Idempotent."""
        if self._server is not None:
            self._server.shutdown()  # waits for serve_forever to return
            self._server.server_close()
            self._server = None
        if self._server_thread is not None:
            self._server_thread.join()
            self._server_thread = None
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        for pump in self._pumps.values():
            pump.stop()
        for pump in self._pumps.values():
            pump.join()
        self._pumps.clear()
        if self.cloud is not None:
            with self.gate.exclusive():  # requests still being answered finish first
                self.cloud.__exit__(None, None, None)
            self.cloud = None  # type: ignore[assignment]
        self._log_handler.detach()

    def __enter__(self) -> DevStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving --------------------------------------------------------------------------------
    def resolve(self, event: dict[str, Any]) -> dict[str, Any]:
        """Answer an API Gateway v2 event through the app's HTTP API, as API Gateway (its CORS
        configuration) and the API Lambda would."""
        with self.gate.shared():
            cloud = self.cloud
            with cloud.engine_lock:
                reply = cloud.resolve_http(event)
        self.bell.ring()  # the function may have sent messages or started runs
        return reply

    def status(self) -> dict[str, Any]:
        """What ``GET /_units/api/status`` reports."""
        return {
            "app": str(self.app),
            # The files on disk are what runs (False while a broken edit waits for a fix).
            "loaded": self.reload_error is None,
            "error": self.reload_error,
            "generation": self.generation,
            "started_at": self.started_at,
            "reloaded_at": self.reloaded_at,
            "url": self.url,
            "viewer": self.url + VIEWER,
            "endpoint_url": self.cloud.endpoint_url if self.cloud is not None else None,
        }

    # -- pumps ----------------------------------------------------------------------------------
    def _sync_pumps(self) -> None:
        """One pump per process host, per workflow host's activity queue and per queue consumer
        (new ones after a reload get theirs; a removed one's pump idles)."""
        cloud = self.cloud
        wanted: dict[str, Any] = {}
        for host in cloud.registry.of_kind(manifest.ProcessHostEntry):
            wanted[f"process:{host.id}"] = lambda h=host.id: cloud.pump_process_host(h)
        for host in cloud.registry.of_kind(manifest.WorkflowHostEntry):
            wanted[f"activities:{host.id}"] = lambda h=host.id: cloud.pump_activities(h)
        for consumer in cloud.registry.of_kind(manifest.QueueConsumerEntry):
            wanted[f"queue:{consumer.id}"] = lambda c=consumer.id: cloud.pump_queue_consumer(c)
        for name, round_ in wanted.items():
            if name not in self._pumps:
                pump = Pump(name, round_, gate=self.gate, bell=self.bell, on_error=self._pump_error)
                self._pumps[name] = pump
                pump.start()

    def _pump_error(self, name: str, exc: BaseException) -> None:
        self.hub.emit(SYSTEM_UNIT, "error", f"{name}: {exc!r}", {})

    # -- reloading ------------------------------------------------------------------------------
    def _reload(self, registry: manifest.Registry) -> None:
        started = time.perf_counter()
        try:
            with self.gate.exclusive():
                self.cloud.reload(registry)
                # Before anyone sees the new code, so status and behaviour agree.
                self.generation += 1
                self.reloaded_at = time.time()
                self.reload_error = None
        except Exception as exc:  # building over the running resources failed
            self._reload_failed(
                f"the new code could not be set up over the running stack (a restart of "
                f"units dev starts afresh): {exc!r}"
            )
            return
        self._sync_pumps()
        self._show_warning(registry)
        elapsed = (time.perf_counter() - started) * 1000
        self.hub.emit(SYSTEM_UNIT, "info", f"reloaded {self.app} in {elapsed:.0f}ms", {})
        self.bell.ring()

    def _show_warning(self, registry: manifest.Registry) -> None:
        """The load's warning (skipped entries, settings not applied) in the stack's log: at
        start, and after a reload only when it changed."""
        text = registry.warning
        if text is not None and text != self._warning:
            self.hub.emit(SYSTEM_UNIT, "warning", text, {})
        self._warning = text

    def _reload_failed(self, message: str) -> None:
        self.reload_error = message
        self.hub.emit(
            SYSTEM_UNIT, "error", f"reload failed, the previous code keeps serving: {message}", {}
        )
