"""The HTTP API: an API Gateway HTTP API with one route per ``http.endpoint``, to the API Lambda.

Auth is decided per route by API Gateway, before the Lambda runs: ``iam`` (the default) needs a
SigV4-signed request, ``jwt`` a token from the endpoint's issuer for one of its audiences,
``none`` nothing. A path or method no endpoint declares gets API Gateway's own 404, so an
unauthenticated request never reaches the Lambda through a route nobody declared.

The routers' ``cors`` middleware is the API's one CORS configuration (``CorsPreflight``): API
Gateway answers preflights itself, without auth and without the Lambda, and adds the CORS
headers to the responses (:mod:`runtime.cors` does the same locally).

The stage throttles every route (``rate`` requests per second, ``burst``; the ``api_rate`` and
``api_burst`` settings): past them API Gateway answers 429 itself, before the Lambda runs, which
bounds what a flood of public requests can cost. An alarm goes off on the first 5xx answer of a
minute (the API Lambda's INTERNAL errors included: they are answers, not Lambda errors).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import nag
from infra.alarms import at_least_one
from infra.lambdas import LOG_RETENTION, UnitLambda
from infra.plan import LambdaSize, Route
from runtime.cors import CorsPolicy

API_HANDLER = "handlers.api.handler"
#: One JSON line per request. HTTP APIs accept only their own ``$context`` variables (REST
#: ones such as ``resourcePath`` fail the deployment), hence a custom format.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
}


class HttpApiHost(Construct):
    """``handler`` (the API Lambda), ``api``, its ``stage`` and ``url``; ``routes`` by key;
    ``server_errors_alarm`` on the API's 5xx answers."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        routes: tuple[Route, ...],
        code: lambda_.Code,
        architecture: str,
        size: LambdaSize,
        environment: Mapping[str, str],
        cors: CorsPolicy | None = None,
        rate: int = 100,
        burst: int = 200,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = UnitLambda(
            self,
            "Handler",
            code=code,
            handler=API_HANDLER,
            architecture=architecture,
            size=size,
            environment=environment,
            description="Compute Units HTTP API (http.endpoint routes)",
        )
        # The default stage cannot take access log settings, so the stack makes its own.
        self.api = apigwv2.HttpApi(
            self,
            "HttpApi",
            description="Compute Units HTTP API",
            create_default_stage=False,
            cors_preflight=cors_preflight(cors) if cors is not None else None,
        )
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            access_log_settings=_AccessLogs(self.access_logs),
            throttle=apigwv2.ThrottleSettings(rate_limit=rate, burst_limit=burst),
        )
        self.server_errors_alarm = at_least_one(
            self,
            "ServerErrorsAlarm",
            self.api.metric_server_error(period=Duration.minutes(1), statistic="Sum"),
            "Compute Units HTTP API: 5xx answers (a function failed with an INTERNAL error, or "
            "the API Lambda itself failed)",
        )
        self.url: str = self.stage.url
        integration = integrations.HttpLambdaIntegration("Lambda", self.handler.function)
        iam_authorizer = authorizers.HttpIamAuthorizer()
        jwt_authorizers: dict[tuple[str, tuple[str, ...]], authorizers.HttpJwtAuthorizer] = {}
        self.routes: dict[str, apigwv2.HttpRoute] = {}
        for route in routes:
            if route.auth == "jwt" and route.jwt is not None:
                key = (route.jwt.issuer, tuple(route.jwt.audience))
                if key not in jwt_authorizers:
                    jwt_authorizers[key] = authorizers.HttpJwtAuthorizer(
                        f"Jwt{len(jwt_authorizers) + 1}",
                        route.jwt.issuer,
                        jwt_audience=list(route.jwt.audience),
                    )
                authorizer: apigwv2.IHttpRouteAuthorizer = jwt_authorizers[key]
            elif route.auth == "none":
                authorizer = apigwv2.HttpNoneAuthorizer()
            else:
                authorizer = iam_authorizer
            (http_route,) = self.api.add_routes(
                path=route.path,
                methods=[apigwv2.HttpMethod[route.method]],
                integration=integration,
                authorizer=authorizer,
            )
            self.routes[route.key] = http_route
            if route.auth == "none":
                nag.suppress(
                    http_route,
                    "AwsSolutions-APIG4",
                    f"Public by the application's own declaration: http.endpoint "
                    f"'{route.endpoint.id}' ({route.endpoint.file}) says 'auth: none'. Every "
                    "endpoint that does not opt out this way is IAM-authorized.",
                )


def cors_preflight(policy: CorsPolicy) -> apigwv2.CorsPreflightOptions:
    """The API's ``CorsConfiguration`` from the routers' cors settings."""
    methods = [
        apigwv2.CorsHttpMethod.ANY if m == "*" else apigwv2.CorsHttpMethod[m]
        for m in policy.allow_methods
    ]
    return apigwv2.CorsPreflightOptions(
        allow_origins=list(policy.allow_origins),
        allow_methods=methods,
        allow_headers=list(policy.allow_headers),
        expose_headers=list(policy.expose_headers) or None,
        allow_credentials=policy.allow_credentials,
        max_age=Duration.seconds(policy.max_age),
    )


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    """JSON access log lines into ``log_group``, one per request."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS))
