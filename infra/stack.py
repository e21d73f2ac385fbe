"""The stack of one application folder: the function hosts, the API when it has endpoints, the
process hosts (queues, workers, service start) when it has ``process.host`` entries, the
workflow hosts (drivers, step/activity Lambdas, activity queues) when it has
``workflow.host`` entries, and the one table both kinds of host keep their state in; the SNS
topic every alarm notifies, and the alarms on the kit's own error metrics.

The stage (``Settings.stage``) is a tag of every resource, with the app and the kit; a
production stage turns on the stack's termination protection and keeps (and protects) its
tables.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aws_cdk import Annotations, CfnOutput, Stack, Tags
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.alarms import AlarmTopic, at_least_one, kit_metric
from infra.api import HttpApiHost
from infra.app_queues import AppQueues
from infra.bundling import APP_FOLDER, LambdaBundle
from infra.environment import base_environment
from infra.functions import FunctionHosts, remote_environment
from infra.lambdas import UnitLambda
from infra.plan import DeployPlan, plan_app
from infra.processes import ProcessHosts
from infra.services import ServiceStarter
from infra.settings import Settings
from infra.storage import Storage
from infra.tables import ProcessTable
from infra.workflows import WorkflowHosts
from runtime.manifest import Registry


class UnitsStack(Stack):
    """Everything one application needs. ``plan``, ``functions``, and ``api``, ``table``,
    ``processes``, ``workflows`` and ``services`` (each None when the application has nothing
    for it).

    ``bundle`` decides the code asset and so the Lambda architecture; by default it is built
    for ``settings.architecture`` and the Lambda runtime's Python. ``alarm_topic`` is the SNS
    topic of every alarm; ``kit_alarms`` the alarms on the kit's own error metrics.
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
        # In the characters a tag value takes (the description takes any).
        app_name = re.sub(r"[^\w.:/=+@ -]", "-", registry.root.resolve().name)[:256] or "app"
        kwargs.setdefault(
            "description",
            f"Compute Units application {app_name} (stage {settings.stage})"[:1024],
        )
        kwargs.setdefault("termination_protection", settings.production)
        super().__init__(scope, construct_id, **kwargs)
        for key, value in (
            ("app", app_name),
            ("stage", settings.stage),
            ("kit", "compute-units"),
        ):
            Tags.of(self).add(key, value)
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
        production = settings.production
        self.table = (
            ProcessTable(self, "Table", production=production).table
            if self.plan.needs_table
            else None
        )
        # The store table and buckets first: every Lambda of the stack carries their names.
        self.storage = Storage(self, "Storage", registry=registry, production=production)
        environment = {**environment, **self.storage.environment()}
        self.queues: AppQueues | None = None
        if registry.of_kind("queue.queue"):
            self.queues = AppQueues(self, "AppQueues", registry=registry)
            environment = {**environment, **self.queues.environment()}
        # Workflow addresses and process hosts first: every Lambda of the stack carries the
        # table name, the machine ARNs and every queue URL.
        self.workflows: WorkflowHosts | None = None
        if self.plan.workflow_hosts and self.table is not None:
            self.workflows = WorkflowHosts(
                self, "Workflows", hosts=self.plan.workflow_hosts, table=self.table
            )
            environment = {**environment, **self.workflows.environment}
        self.processes: ProcessHosts | None = None
        if self.plan.process_hosts and self.table is not None:
            self.processes = ProcessHosts(
                self,
                "Processes",
                hosts=self.plan.process_hosts,
                table=self.table,
                code=code,
                architecture=bundle.architecture,
                environment=environment,
            )
            environment = {**environment, **self.processes.environment}
        if self.queues is not None:
            self.queues.add_consumers(
                code=code, architecture=bundle.architecture, environment=environment
            )
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
                cors=self.plan.cors,
                code=code,
                architecture=bundle.architecture,
                size=self.plan.api_size,
                environment=environment,
                rate=settings.api_rate,
                burst=settings.api_burst,
            )
            self.functions.grant_invoke_remotes(self.api.handler.function)
        if self.workflows is not None:
            self.workflows.add_drivers(
                code=code,
                architecture=bundle.architecture,
                environment=environment,
                log_level=settings.workflow_log_level,
                log_data=settings.workflow_log_data,
            )
            self._grant_workflows(self.workflows)
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
                if self.workflows is not None:
                    # A service may start a workflow as soon as it runs: its drivers first.
                    self.services.resource.node.add_dependency(
                        *(d.machine for d in self.workflows.drivers.values())
                    )
        for warning in self.plan.warnings:
            Annotations.of(self).add_warning_v2("units:slow-route", warning)
        self._grant_storage()
        self._grant_queues()
        if registry.warning:  # Wippy entries skipped, settings not applied
            Annotations.of(self).add_warning_v2("units:manifest", registry.warning)
        self.kit_alarms = self._kit_alarms()
        # Last: every alarm of the stack exists now, and each one notifies the topic.
        self.alarm_topic = AlarmTopic(self, "Alarms", email=settings.alarm_email)
        self.alarm_topic.notify_all(self)
        self._outputs()

    def _kit_alarms(self) -> list[cloudwatch.Alarm]:
        """Alarms on the errors the kit reports as metrics (Powertools EMF) rather than as
        Lambda errors: a function's error is a reply (``CallErrors``, from the function and
        remote Lambdas), a consumer's nack a failed record (``QueueMessagesNacked``)."""
        service = self.stack_name
        alarms = [
            at_least_one(
                self,
                "CallErrorsAlarm",
                kit_metric("CallErrors", service),
                "Compute Units: function invokes answered with an error (errors are replies, "
                "so the Lambda Errors alarms never see them)",
            )
        ]
        if self.queues is not None and self.queues.consumers:
            alarms.append(
                at_least_one(
                    self,
                    "NackedAlarm",
                    kit_metric("QueueMessagesNacked", service),
                    "Compute Units: queue consumers nacked messages (their function failed; "
                    "the message is received again, then dead-lettered)",
                )
            )
        return alarms

    def _function_runners(self) -> list[UnitLambda]:
        """The Lambdas that run function entries: the function Lambda, the remote functions,
        the API Lambda and the workflow hosts' step (inline activities) and activity Lambdas."""
        runners = [self.functions.host, *self.functions.remotes.values()]
        if self.api is not None:
            runners.append(self.api.handler)
        if self.workflows is not None:
            runners += self.workflows.steps + self.workflows.activities
        if self.queues is not None:
            runners += self.queues.consumers.values()
        return runners

    def _grant_queues(self) -> None:
        # Publishing is function code wherever it runs (actors' handlers included), never
        # workflow code (refused); consumers call remote functions as any function does.
        if self.queues is None:
            return
        runners = [r.function for r in self._function_runners()]
        if self.processes is not None:
            runners += [w.function for w in self.processes.workers.values()]
        for function in runners:
            self.queues.grant_publish(function)
        for consumer in self.queues.consumers.values():
            self.functions.grant_invoke_remotes(consumer.function)

    def _grant_storage(self) -> None:
        # Store and cloudstorage calls are made by function code wherever it runs, actors'
        # handlers included; never by workflow code (refused), so the drivers get nothing.
        runners = [r.function for r in self._function_runners()]
        if self.processes is not None:
            runners += [w.function for w in self.processes.workers.values()]
        for function in runners:
            self.storage.grant(function)

    def _grant_processes(self, processes: ProcessHosts) -> None:
        # Functions (hosted and remote, in the function, API and activity Lambdas) spawn, send
        # and register names; actors in a worker call functions, remote ones included, as any
        # function does.
        for client in self._function_runners():
            processes.grant_clients(client.function)
        for worker in processes.workers.values():
            self.functions.grant_invoke_remotes(worker.function)
        # (A workflow's process.send to an actor is carried out by its step, after the append:
        # the step is among the function runners, which may send.)

    def _grant_workflows(self, workflows: WorkflowHosts) -> None:
        # Functions, the API and actors start workflows and signal them; activities are
        # function calls, so they may call remote functions as any function does.
        clients = [self.functions.host, *self.functions.remotes.values()]
        if self.api is not None:
            clients.append(self.api.handler)
        if self.processes is not None:
            clients += self.processes.workers.values()
        if self.queues is not None:
            clients += self.queues.consumers.values()
        for client in clients:
            workflows.grant_clients(client)
        for runner in workflows.steps + workflows.activities:
            self.functions.grant_invoke_remotes(runner.function)

    def _outputs(self) -> None:
        # Fixed output names: the CLI finds a deployed stack's resources by them.
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=self.alarm_topic.topic.topic_arn,
            description="The SNS topic every alarm of the stack notifies",
        )
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
        if self.table is not None:
            # The name predates workflow hosts; the table is the same one for both.
            CfnOutput(
                self,
                "ProcessTableName",
                value=self.table.table_name,
                description="The DynamoDB table of process snapshots, registered names and "
                "workflow event logs",
            )
        if self.processes is not None:
            self._process_outputs(self.processes)
        if self.workflows is not None:
            self._workflow_outputs(self.workflows)
        self._storage_outputs()
        if self.queues is not None:
            queues = self.queues
            CfnOutput(
                self,
                "Queues",
                value=self._by_host({k: q.queue_url for k, q in queues.queues.items()}),
                description="JSON map of queue.queue entry ids to their SQS queue URLs",
            )
            CfnOutput(
                self,
                "QueueDeadLetterQueues",
                value=self._by_host({k: q.queue_url for k, q in queues.dead_letters.items()}),
                description="JSON map of queue.queue entry ids to their dead-letter queue URLs",
            )
            CfnOutput(
                self,
                "QueueConsumers",
                value=self._by_host(
                    {k: c.function.function_name for k, c in queues.consumers.items()}
                ),
                description="JSON map of queue.consumer entry ids to their Lambda names",
            )

    def _storage_outputs(self) -> None:
        # `units resources` lists a store's keys from its partition of this table and a
        # bucket's objects by its name.
        storage = self.storage
        if storage.table is not None:
            CfnOutput(
                self,
                "StoreTableName",
                value=storage.table.table_name,
                description="The DynamoDB table of the store entries' keys",
            )
            CfnOutput(
                self,
                "Stores",
                value=json.dumps(storage.partitions, sort_keys=True),
                description="JSON map of store entry ids to their partition in StoreTableName",
            )
        if storage.buckets:
            CfnOutput(
                self,
                "Buckets",
                value=self._by_host({k: b.bucket_name for k, b in storage.buckets.items()}),
                description="JSON map of cloudstorage.s3 entry ids to their S3 bucket names",
            )

    def _by_host(self, values: dict[str, str]) -> str:
        return self.to_json_string(values)

    def _process_outputs(self, processes: ProcessHosts) -> None:
        queues = processes.queues
        for name, queue_of, what in (
            ("ProcessQueues", lambda q: q.queue, "FIFO queue (mailbox)"),
            ("ProcessDelayQueues", lambda q: q.delays, "delay queue"),
            ("ProcessDeadLetterQueues", lambda q: q.dead_letters, "FIFO dead-letter queue"),
            ("ProcessDelayDeadLetterQueues", lambda q: q.delay_dead_letters, "delay queue's DLQ"),
        ):
            CfnOutput(
                self,
                name,
                value=self._by_host({h: queue_of(q).queue_url for h, q in queues.items()}),
                description=f"JSON map of process host ids to their {what} URLs",
            )
        CfnOutput(
            self,
            "ProcessWorkers",
            value=self._by_host(
                {h: w.function.function_name for h, w in processes.workers.items()}
            ),
            description="JSON map of process host ids to their worker Lambda names",
        )

    def _workflow_outputs(self, workflows: WorkflowHosts) -> None:
        drivers, queues = workflows.drivers, workflows.queues
        for name, values, what in (
            (
                "WorkflowMachines",
                {h: d.machine.state_machine_arn for h, d in drivers.items()},
                "driver state machine ARNs",
            ),
            (
                "WorkflowActivityQueues",
                {h: q.queue.queue_url for h, q in queues.items()},
                "activity queue URLs",
            ),
            (
                "WorkflowActivityDeadLetterQueues",
                {h: q.dead_letters.queue_url for h, q in queues.items()},
                "activity queues' DLQ URLs",
            ),
        ):
            CfnOutput(
                self,
                name,
                value=self._by_host(values),
                description=f"JSON map of workflow host ids to their {what}",
            )
