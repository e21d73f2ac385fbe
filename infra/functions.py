"""Function hosts: the function Lambda and one Lambda per ``deploy.remote`` function.

The function Lambda runs every non-remote ``function.lua`` (``funcs.call`` between them stays
in process). A remote function runs in its own Lambda, which has ``UNITS_HOME_FUNCTIONS`` set
to its entry id so it runs that function itself instead of invoking itself, and its
``deploy.reserved_concurrency`` when given (reserved for it, and its cap). Every Lambda of
the stack carries the whole app, so any of them may call a remote function: they all get the
name map (``UNITS_REMOTE_FUNCTIONS``) and ``lambda:InvokeFunction`` on exactly those Lambdas.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.environment import HOME_FUNCTIONS_ENV, REMOTE_FUNCTIONS_ENV
from infra.lambdas import UnitLambda
from infra.plan import DeployPlan

FUNCTION_HANDLER = "handlers.function.handler"


def remote_environment(plan: DeployPlan) -> dict[str, str]:
    """The environment every Lambda needs to reach the remote functions."""
    return {REMOTE_FUNCTIONS_ENV: json.dumps(plan.remote_names, sort_keys=True)}


class FunctionHosts(Construct):
    """``host`` (the function Lambda) and ``remotes`` (entry id -> its own Lambda)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: DeployPlan,
        code: lambda_.Code,
        architecture: str,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        hosted = ", ".join(f.id for f in plan.hosted) or "no functions yet"
        self.host = UnitLambda(
            self,
            "Host",
            code=code,
            handler=FUNCTION_HANDLER,
            architecture=architecture,
            size=plan.function_size,
            environment=environment,
            description=f"Compute Units function host ({hosted})"[:256],
        )
        self.remotes: dict[str, UnitLambda] = {}
        for remote in plan.remote:
            self.remotes[remote.entry.id] = UnitLambda(
                self,
                f"Remote[{remote.entry.id}]",
                code=code,
                handler=FUNCTION_HANDLER,
                architecture=architecture,
                size=remote.size,
                environment={**environment, HOME_FUNCTIONS_ENV: remote.entry.id},
                description=f"Compute Units remote function {remote.entry.id}",
                function_name=remote.function_name,
                reserved_concurrency=remote.entry.deploy.reserved_concurrency,
            )
        # ARNs from the fixed names, not the Function constructs: two remote functions each
        # granted the other's Function would depend on each other, a cycle CloudFormation refuses.
        stack = Stack.of(self)
        self._arns = {
            remote.entry.id: stack.format_arn(
                service="lambda",
                resource="function",
                resource_name=remote.function_name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for remote in plan.remote
        }
        for caller in [self.host, *self.remotes.values()]:
            self.grant_invoke_remotes(caller.function)

    def grant_invoke_remotes(self, grantee: iam.IGrantable) -> None:
        """Let ``grantee`` invoke every remote function but itself (it runs its own in process).

        Unqualified ARNs only: the runtime invokes by function name, never a version or alias,
        so the usual ``<arn>:*`` of ``grant_invoke`` would be a wildcard nobody uses.
        """
        arns = [
            arn
            for entry_id, arn in self._arns.items()
            if grantee is not getattr(self.remotes.get(entry_id), "function", None)
        ]
        if arns:
            iam.Grant.add_to_principal(
                grantee=grantee, actions=["lambda:InvokeFunction"], resource_arns=arns
            )
