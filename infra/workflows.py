"""Workflow hosts: per ``workflow.host`` the driver state machine, its step and activity
Lambdas and its activity queue, over the stack's table (``infra.tables``, shared with the
process hosts: a run's event log, index item and inbox are items keyed ``pk``/``sk`` there).

The driver is the Standard state machine whose definition ``runtime.workflows.asl`` generates
(the local driver runs the same document): one Wake task (``lambda:invoke.waitForTaskToken``
on the step Lambda) per wake, until the run ends. The step appends to the run's log, runs inline
activities itself, sends queued ones to the host's activity queue, and ends its own task (a
park keeps the token; going on is ``SendTaskSuccess``, an end ``SendTaskFailure``); the activity
Lambda runs queued attempts (they are function calls) and wakes the run with
``SendTaskSuccess``; child workflows and rollovers are ``StartExecution`` on a driver.

**Names break a cycle.** The machine's definition holds the step Lambda's ARN, and the
step Lambda's environment and policy need the machine's ARN (a rollover starts the next
execution on it). Referencing the machine construct there would make each depend on the other,
which CloudFormation refuses; so every machine gets a fixed name (``plan.state_machine_name``)
and its ARN is built from that name, depending on nothing.

Every Lambda of the stack carries ``UNITS_WORKFLOW_MACHINES`` and ``UNITS_ACTIVITY_QUEUES``, and
functions, the API, process workers and activities may start workflows and signal them, so
they get ``StartExecution`` on every machine, ``SendTaskSuccess`` and the table
(:meth:`WorkflowHosts.grant_clients`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import nag
from infra.alarms import at_least_one
from infra.environment import (
    ACTIVITY_QUEUES_ENV,
    TABLE_ENV,
    WORKFLOW_HOST_ENV,
    WORKFLOW_MACHINES_ENV,
)
from infra.lambdas import LOG_RETENTION, UnitLambda
from infra.plan import WorkflowHost
from infra.queues import ActivityQueues
from runtime.workflows.asl import driver_definition

STEP_HANDLER = "handlers.workflow_step.handler"
ACTIVITY_HANDLER = "handlers.activity.handler"
#: Step Functions sends vended logs to groups under this prefix without growing the account's
#: CloudWatch Logs resource policy (capped at 5,120 characters) once per log group.
MACHINE_LOG_PREFIX = "/aws/vendedlogs/states/"
#: What wakes a parked run: the task token is the authorization, the action takes no resource.
TASK_RESPONSE_ACTIONS = ["states:SendTaskSuccess"]
#: What the step does with its own task's token: go on, or end the execution (through a Catch).
STEP_TASK_ACTIONS = ["states:SendTaskSuccess", "states:SendTaskFailure"]


def state_machine_arn(stack: Stack, name: str) -> str:
    """The ARN of the state machine called ``name`` in ``stack``'s account and region."""
    return stack.format_arn(
        service="states",
        resource="stateMachine",
        resource_name=name,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def grant_task_response(unit: UnitLambda, actions: list[str] = TASK_RESPONSE_ACTIONS) -> None:
    """Let ``unit`` wake parked runs (``SendTaskSuccess`` with a run's stored task token), or
    (the step, ``STEP_TASK_ACTIONS``) also end its own task with ``SendTaskFailure``.

    Neither action supports resource-level permissions (the Service Authorization Reference
    lists no resource type for them), so the statement's resource is ``*``. It gets a policy
    of its own, with a cdk-nag suppression that says exactly that, instead of joining the
    role's default policy under the X-Ray suppression's reason.
    """
    if unit.node.try_find_child("WakeRuns") is not None:
        return  # granted already: the step is granted its wider set first
    policy = iam.Policy(
        unit,
        "WakeRuns",
        statements=[iam.PolicyStatement(actions=actions, resources=["*"])],
    )
    unit.role.attach_inline_policy(policy)
    # As for grants in the role's default policy: the function exists only once it may act.
    unit.function.node.add_dependency(policy)
    nag.suppress(
        policy,
        "AwsSolutions-IAM5",
        "states:SendTaskSuccess and states:SendTaskFailure support no resource-level "
        "permissions (the Service Authorization Reference lists no resource type for them): "
        "'*' is the only resource they take. The caller can only complete a task whose token "
        "it holds: its own wake's (the step), or one the kit reads from the run's own item in "
        "the table.",
        applies_to=["Resource::*"],
    )


class WorkflowHosts(Construct):
    """``queues`` and ``machine_arns`` by host id, and ``environment``: what every Lambda of the
    stack needs to start and signal workflows (the table, the machine and activity queue maps).

    The Lambdas and machines come after the rest of the stack's environment is known:
    :meth:`add_drivers` builds them (``drivers`` by host id).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        hosts: tuple[WorkflowHost, ...],
        table: dynamodb.Table,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.hosts = hosts
        self.table = table
        self.machine_arns = {host.id: state_machine_arn(stack, host.machine_name) for host in hosts}
        self.queues = {
            host.id: ActivityQueues(self, f"Activities[{host.id}]", host=host) for host in hosts
        }
        self.environment: dict[str, str] = {
            TABLE_ENV: table.table_name,
            WORKFLOW_MACHINES_ENV: stack.to_json_string(self.machine_arns),
            ACTIVITY_QUEUES_ENV: stack.to_json_string(
                {host_id: q.queue.queue_url for host_id, q in self.queues.items()}
            ),
        }
        self.drivers: dict[str, WorkflowDriver] = {}

    def add_drivers(
        self,
        *,
        code: lambda_.Code,
        architecture: str,
        environment: Mapping[str, str],
        log_level: str = "ERROR",
        log_data: bool = False,
    ) -> None:
        """Build every host's Lambdas and state machine; ``environment`` is the stack's (it
        includes :attr:`environment`). ``log_level`` (``sfn.LogLevel`` name) and ``log_data``
        are the machines' logging: errors only, without executions' input and output, unless
        the deployment asks for more."""
        for host in self.hosts:
            self.drivers[host.id] = WorkflowDriver(
                self,
                f"Host[{host.id}]",
                host=host,
                workflows=self,
                code=code,
                architecture=architecture,
                environment=environment,
                log_level=log_level,
                log_data=log_data,
            )

    @property
    def steps(self) -> list[UnitLambda]:
        """Every host's step Lambda (it runs inline activities: function calls)."""
        return [d.step for d in self.drivers.values()]

    @property
    def activities(self) -> list[UnitLambda]:
        """Every host's activity Lambda (they run function entries)."""
        return [driver.activity for driver in self.drivers.values()]

    def grant_start(self, grantee: iam.IGrantable) -> None:
        """``StartExecution`` on every host's driver, by the machines' exact ARNs."""
        if self.machine_arns:
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["states:StartExecution"],
                resource_arns=list(self.machine_arns.values()),
            )

    def grant_clients(self, unit: UnitLambda) -> None:
        """What starting and signalling workflows takes: the table (the run's index and inbox),
        ``StartExecution`` on every driver and ``SendTaskSuccess`` (waking the run)."""
        self.table.grant_read_write_data(unit.function)
        self.grant_start(unit.function)
        grant_task_response(unit)


class WorkflowDriver(Construct):
    """One workflow host: ``step`` and ``activity`` (Lambdas), ``machine`` (its
    driver), ``machine_role``, ``machine_logs`` and ``failed_alarm``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        host: WorkflowHost,
        workflows: WorkflowHosts,
        code: lambda_.Code,
        architecture: str,
        environment: Mapping[str, str],
        log_level: str = "ERROR",
        log_data: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        env = {**environment, WORKFLOW_HOST_ENV: host.id}

        def unit(construct_id: str, handler: str, size_of: str, what: str) -> UnitLambda:
            return UnitLambda(
                self,
                construct_id,
                code=code,
                handler=handler,
                architecture=architecture,
                size=getattr(host, size_of),
                environment=env,
                description=f"Compute Units workflow host {host.id}: {what}"[:256],
            )

        self.step = unit(
            "Step", STEP_HANDLER, "step_size", "steps its runs, inline activities included"
        )
        self.activity = unit("Activity", ACTIVITY_HANDLER, "activity_size", "runs activities")
        queues = workflows.queues[host.id]

        # The step appends to the log, parks (the token on the run's item), ends its own task,
        # and schedules queued activities on this host's queue; rollovers and child workflows
        # start executions on any driver; a finished child wakes its parent (and signals wake
        # other runs). Inline activities are function calls made in the step, so it gets
        # what functions get. Its sends to actors are granted with the processes.
        grant_task_response(self.step, STEP_TASK_ACTIONS)  # before grant_clients' narrower one
        workflows.grant_clients(self.step)
        queues.queue.grant_send_messages(self.step.function)
        # Activities are function calls (whatever functions may do, the stack grants them
        # too) whose results land in the run's inbox, then wake the run.
        workflows.grant_clients(self.activity)
        # The event source mapping grants receive/delete on this host's queue only.
        self.activity.function.add_event_source(
            event_sources.SqsEventSource(
                queues.queue,
                batch_size=host.entry.activity_batch_size,
                max_concurrency=host.entry.max_concurrency,
                report_batch_item_failures=True,
            )
        )

        self.machine_logs = logs.LogGroup(
            self,
            "MachineLogs",
            log_group_name=f"{MACHINE_LOG_PREFIX}{host.machine_name}",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.machine_role = iam.Role(
            self,
            "MachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description=f"Runs the Compute Units workflow driver of {host.id}"[:1000],
        )
        # Unqualified ARNs, exactly what the definition invokes (no '<arn>:*' for versions).
        iam.Grant.add_to_principal(
            grantee=self.machine_role,
            actions=["lambda:InvokeFunction"],
            resource_arns=[self.step.function.function_arn],
        )
        definition = driver_definition(self.step.function.function_arn)
        # json.dumps, not Stack.to_json_string (which drops None values: the document must be
        # exactly the one the local driver runs). The ARN is a token inside the text, which
        # CloudFormation joins in; an ARN needs no escaping.
        self.machine = sfn.StateMachine(
            self,
            "Machine",
            state_machine_name=host.machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(json.dumps(definition)),
            role=self.machine_role,
            tracing_enabled=True,
            # Errors only and no execution data by default: inputs and outputs are application
            # payloads (the step's input and output carry run ids, the results are the
            # application's), which logs should not hold unless asked to.
            logs=sfn.LogOptions(
                destination=self.machine_logs,
                level=sfn.LogLevel[log_level],
                include_execution_data=log_data,
            ),
            comment=f"Compute Units workflow driver of {host.id}",
        )
        if log_level != "ALL":
            nag.suppress(
                self.machine,
                "AwsSolutions-SF1",
                "The driver logs errors (failed executions and tasks) by default, not every "
                "state transition: each of a run's wakes is an execution event, and with data "
                "they would carry the run's inputs and results (application payloads) into the "
                "logs. The run's own history is in the table; the workflow_log_level setting "
                "turns ALL on for a stage that wants it.",
            )
        self.failed_alarm = at_least_one(
            self,
            "FailedAlarm",
            self.machine.metric_failed(period=Duration.minutes(1), statistic="Sum"),
            f"Compute Units workflow host {host.id}: driver executions failed (a run failed, "
            "or its step kept failing)",
        )
        nag.suppress(
            self.machine_role,
            "AwsSolutions-IAM5",
            "Step Functions tracing adds xray:PutTraceSegments, xray:PutTelemetryRecords, "
            "xray:GetSamplingRules and xray:GetSamplingTargets, and logging adds the CloudWatch "
            "Logs vended-log delivery actions (logs:CreateLogDelivery, logs:PutResourcePolicy, "
            "...); none of them supports resource-level permissions, so '*' is the only resource "
            "they take. The role's only scoped grant is lambda:InvokeFunction on the step "
            "Lambda.",
            applies_to=["Resource::*"],
        )
