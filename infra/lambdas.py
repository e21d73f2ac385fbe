"""The one Lambda shape every host of the kit uses (function, remote, API, and later workers).

Each gets its own role holding only what is granted to it, its own log group (so retention is
set and ``cdk destroy`` removes it), X-Ray active tracing, and an alarm on its ``Errors``.

``recursive_loop`` is for a Lambda that sends to a queue that is its own event source (a process
worker: actors send to actors, and restarts wait in the delay queue): Lambda's recursive loop
detection would otherwise stop such a chain after about 16 hops (``RecursiveLoop: Allow``).
``reserved_concurrency`` reserves (and caps) the function's concurrency (None: unreserved).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import nag
from infra.alarms import at_least_one
from infra.plan import LambdaSize

#: The Lambda runtime; ``bundling.PYTHON_VERSION`` fetches wheels for the same Python.
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
#: Logs are the one thing the stack stores at rest; a month covers an incident's look-back.
LOG_RETENTION = logs.RetentionDays.ONE_MONTH


class UnitLambda(Construct):
    """A Lambda of the kit: ``function``, ``role``, ``log_group`` and ``errors_alarm``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        handler: str,
        architecture: str,
        size: LambdaSize,
        environment: Mapping[str, str],
        description: str,
        function_name: str | None = None,
        recursive_loop: bool = False,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # An explicit role instead of the default one: the default attaches the managed
        # AWSLambdaBasicExecutionRole, which may write to every log group of the account.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs {description}",
        )
        self.log_group = logs.LogGroup(
            self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURES[architecture],
            handler=handler,
            code=code,
            memory_size=size.memory,
            timeout=Duration.seconds(size.timeout),
            environment=dict(environment),
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            recursive_loop=lambda_.RecursiveLoop.ALLOW if recursive_loop else None,
            reserved_concurrent_executions=reserved_concurrency,
        )
        self.log_group.grant_write(self.role)
        self.errors_alarm = at_least_one(
            self,
            "ErrorsAlarm",
            self.function.metric_errors(period=Duration.minutes(1), statistic="Sum"),
            f"{description}: invocations failed (unhandled error or timeout)",
        )
        nag.suppress(
            self.role,
            "AwsSolutions-IAM5",
            "Lambda active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, "
            "which support no resource-level permissions: '*' is the only resource they take.",
            applies_to=["Resource::*"],
        )
        nag.suppress(
            self.function,
            "AwsSolutions-L1",
            "Python 3.12 is the runtime the bundle is built for: its Linux wheels (lupa's C "
            "extension, PyYAML) are fetched for cp312 and the kit is tested on 3.11 and 3.12. "
            "Moving to a newer runtime is a deliberate upgrade of both together.",
        )
