"""Starting the ``process.service`` entries on deploy: a custom resource over a small Lambda.

The Lambda (``handlers.services``) spawns every auto-started service on Create and Update and
does nothing on Delete. It is idempotent by design: a service's first start has a deterministic
pid and deduplication id, and a spawn to a pid that already exists is ignored, so running it
again never duplicates a service. The resource's ``Digest`` is a hash of the service entries, so
an update that adds or changes a service runs it again; an update that does not, does not.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CustomResource, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra import nag
from infra.lambdas import LOG_RETENTION, UnitLambda
from infra.plan import DeployPlan, LambdaSize
from infra.processes import ProcessHosts

SERVICES_HANDLER = "handlers.services.handler"
RESOURCE_TYPE = "Custom::UnitsServices"
#: Loading the app and sending one batch per host takes seconds; a minute leaves room for a
#: cold start and SQS retries.
START_TIMEOUT = 60


class ServiceStarter(Construct):
    """``handler`` (the Lambda that spawns), ``provider`` (CDK's custom resource framework)
    and ``resource`` (the custom resource itself)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: DeployPlan,
        processes: ProcessHosts,
        code: lambda_.Code,
        architecture: str,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = UnitLambda(
            self,
            "Handler",
            code=code,
            handler=SERVICES_HANDLER,
            architecture=architecture,
            size=LambdaSize(plan.function_size.memory, START_TIMEOUT),
            environment=environment,
            description="Compute Units: starts the process.service entries on deploy",
        )
        # A spawn is one message to the service's host's FIFO queue; nothing else is touched
        # (no table access: the worker registers the name when it runs the spawn).
        processes.grant_send(self.handler.function)

        # The framework Lambda gets a role of our own: the default one carries the managed
        # AWSLambdaBasicExecutionRole, which may write to every log group of the account.
        framework_role = iam.Role(
            self,
            "FrameworkRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Runs the custom resource framework that starts the services",
        )
        framework_logs = logs.LogGroup(
            self, "FrameworkLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        framework_logs.grant_write(framework_role)
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.handler.function,
            framework_on_event_role=framework_role,
            log_group=framework_logs,
        )
        self.resource = CustomResource(
            self,
            "Start",
            service_token=self.provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties={
                "Services": [service.id for service in plan.services],
                "Digest": plan.services_digest,
            },
        )
        nag.suppress(
            framework_role,
            "AwsSolutions-IAM5",
            "CDK's custom resource framework grants itself lambda:InvokeFunction on the "
            "services Lambda and on its versions ('<arn>:*'); the wildcard covers versions of "
            "that one function only.",
            applies_to=[nag.regex(r"^Resource::<.*ServicesHandlerFunction.*\.Arn>:\*$")],
        )
