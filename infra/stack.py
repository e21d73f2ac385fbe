"""The stack of one application folder: the function hosts and, when it has endpoints, the API.

Process hosts and workflow hosts join later as constructs of their own built here from the same
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
from infra.settings import Settings
from runtime.manifest import Registry


class UnitsStack(Stack):
    """Everything one application needs. ``plan``, ``functions`` and ``api`` (or None).

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
        for warning in self.plan.warnings:
            Annotations.of(self).add_warning_v2("units:slow-route", warning)
        self._outputs()

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
