"""The stack of one application folder: the function hosts, the API when it has endpoints, and
the process hosts (table, queues, workers, service start) when it has ``process.host`` entries.

Workflow hosts join later as constructs of their own built here from the same
:class:`~infra.plan.DeployPlan`; until then :func:`~infra.plan.plan_app` refuses apps that have
them, so nothing is silently left undeployed.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Annotations, CfnOutput, Stack
from constructs import Construct

from infra.api import HttpApiHost
from infra.bundling import APP_FOLDER, LambdaBundle
from infra.environment import base_environment
from infra.functions import FunctionHosts, remote_environment
from infra.plan import DeployPlan, plan_app
from infra.processes import ProcessHosts
from infra.services import ServiceStarter
from infra.settings import Settings
from runtime.manifest import Registry


class UnitsStack(Stack):
    """Everything one application needs. ``plan``, ``functions``, and ``api``, ``processes``
    and ``services`` (each None when the application has nothing for it).

    ``bundle`` decides the code asset and so the Lambda architecture; by default it is built
    for ``settings.architecture`` and the Lambda runtime's Python.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        registry: Registry,
        settings: Settings,
        bundle: LambdaBundle | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # Checked before any construct exists, so a bad app fails fast, before bundling.
        self.plan: DeployPlan = plan_app(registry, self.stack_name)
        bundle = bundle or LambdaBundle(architecture=settings.architecture)
        code = bundle.code(registry.root, prepare=self.bundling_required)
        environment = {
            **base_environment(
                service_name=self.stack_name, log_level=settings.log_level, app_folder=APP_FOLDER
            ),
            **remote_environment(self.plan),
        }
        # Processes first: every Lambda of the stack carries their table and queue URLs.
        self.processes: ProcessHosts | None = None
        if self.plan.process_hosts:
            self.processes = ProcessHosts(
                self,
                "Processes",
                hosts=self.plan.process_hosts,
                code=code,
                architecture=bundle.architecture,
                environment=environment,
            )
            environment = {**environment, **self.processes.environment}
        self.functions = FunctionHosts(
            self,
            "Functions",
            plan=self.plan,
            code=code,
            architecture=bundle.architecture,
            environment=environment,
        )
        self.api: HttpApiHost | None = None
        if self.plan.routes:
            self.api = HttpApiHost(
                self,
                "Api",
                routes=self.plan.routes,
                code=code,
                architecture=bundle.architecture,
                size=self.plan.api_size,
                environment=environment,
            )
            self.functions.grant_invoke_remotes(self.api.handler.function)
        self.services: ServiceStarter | None = None
        if self.processes is not None:
            self._grant_processes(self.processes)
            if self.plan.services:
                self.services = ServiceStarter(
                    self,
                    "Services",
                    plan=self.plan,
                    processes=self.processes,
                    code=code,
                    architecture=bundle.architecture,
                    environment=environment,
                )
        for warning in self.plan.warnings:
            Annotations.of(self).add_warning_v2("units:slow-route", warning)
        self._outputs()

    def _grant_processes(self, processes: ProcessHosts) -> None:
        # Functions (hosted and remote) and the API spawn, send and register names; actors in a
        # worker call functions, remote ones included, as any function does.
        clients = [self.functions.host, *self.functions.remotes.values()]
        if self.api is not None:
            clients.append(self.api.handler)
        for client in clients:
            processes.grant_clients(client.function)
        for worker in processes.workers.values():
            self.functions.grant_invoke_remotes(worker.function)

    def _outputs(self) -> None:
        # Fixed output names: the CLI finds a deployed stack's resources by them.
        CfnOutput(
            self,
            "FunctionLambdaName",
            value=self.functions.host.function.function_name,
            description="The function Lambda: direct invokes {id, args} of function entries",
        )
        CfnOutput(
            self,
            "RemoteFunctions",
            value=json.dumps(self.plan.remote_names, sort_keys=True),
            description="JSON map of remote function entry ids to their Lambda names",
        )
        if self.api is not None:
            CfnOutput(self, "ApiUrl", value=self.api.url, description="The HTTP API base URL")
            CfnOutput(
                self,
                "ApiLambdaName",
                value=self.api.handler.function.function_name,
                description="The Lambda behind the HTTP API",
            )
        if self.processes is not None:
            self._process_outputs(self.processes)

    def _process_outputs(self, processes: ProcessHosts) -> None:
        def by_host(values: dict[str, str]) -> str:
            return self.to_json_string(values)

        queues = processes.queues
        CfnOutput(
            self,
            "ProcessTableName",
            value=processes.table.table_name,
            description="The DynamoDB table of process snapshots and registered names",
        )
        for name, queue_of, what in (
            ("ProcessQueues", lambda q: q.queue, "FIFO queue (mailbox)"),
            ("ProcessDelayQueues", lambda q: q.delays, "delay queue"),
            ("ProcessDeadLetterQueues", lambda q: q.dead_letters, "FIFO dead-letter queue"),
            ("ProcessDelayDeadLetterQueues", lambda q: q.delay_dead_letters, "delay queue's DLQ"),
        ):
            CfnOutput(
                self,
                name,
                value=by_host({h: queue_of(q).queue_url for h, q in queues.items()}),
                description=f"JSON map of process host ids to their {what} URLs",
            )
        CfnOutput(
            self,
            "ProcessWorkers",
            value=by_host({h: w.function.function_name for h, w in processes.workers.items()}),
            description="JSON map of process host ids to their worker Lambda names",
        )
