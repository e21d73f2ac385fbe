"""Where the ``units`` commands go: the dev stack on this machine, or a deployed stack.

A :class:`Target` is a region, an endpoint (the dev stack's moto server; None for AWS) and the
stack's outputs: the resource names under the CloudFormation output names ``infra/stack.py``
gives them (``ProcessTableName``, ``ProcessQueues``, ``WorkflowMachines``...; host maps are JSON
strings). The dev server reports the same outputs at ``GET /_units/api/outputs``; a deployed
stack's come from CloudFormation ``DescribeStacks``. Every command then talks to the resources
through boto3 and the runtime's own classes, so the dev stack and a deployed one share one path.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

#: Where ``units dev`` listens unless told otherwise.
DEFAULT_DEV_URL = "http://127.0.0.1:8787"
#: Overrides :data:`DEFAULT_DEV_URL` (``--dev URL`` overrides both).
DEV_URL_ENV = "UNITS_DEV_URL"
#: The dev server's API, under its base URL.
DEV_API = "/_units/api"
#: Seconds to wait for the dev server before saying it is not there.
DEV_TIMEOUT = 10.0
#: Credentials for the dev stack's moto server, which accepts any: boto3 refuses to sign a
#: request without some, and the user's real ones have no business there.
_DEV_CREDENTIALS = {"aws_access_key_id": "dev", "aws_secret_access_key": "dev"}


class TargetError(Exception):
    """The target cannot be reached or lacks what a command needs; the message says what to
    do about it."""


@dataclass(frozen=True)
class Target:
    """A stack's resources and how to reach them."""

    region: str
    #: CloudFormation output name -> value.
    outputs: dict[str, str] = field(default_factory=dict)
    #: The dev stack's moto server; None for AWS itself.
    endpoint_url: str | None = None
    #: Set for the dev stack: its server's base URL (function invokes and logs go through it).
    dev_url: str | None = None
    #: Set for a deployed stack: its name (logs are found through its resources).
    stack: str | None = None

    @property
    def name(self) -> str:
        """How messages refer to this target."""
        if self.stack:
            return f"stack '{self.stack}'"
        if self.dev_url:
            return f"the dev stack at {self.dev_url}"
        return "the local stack"

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` in this target's region (and endpoint)."""
        import boto3
        from botocore.config import Config

        extra: dict[str, Any] = {}
        if self.endpoint_url:
            # A dev stack that stopped should be reported at once, not after AWS-grade retries.
            fail_fast = Config(
                connect_timeout=5,
                retries={"max_attempts": 2, "mode": "standard"},
                # moto's server answers S3 at its own address, not at <bucket>.<host>.
                s3={"addressing_style": "path"} if service == "s3" else None,
            )
            extra = {"endpoint_url": self.endpoint_url, "config": fail_fast, **_DEV_CREDENTIALS}
        return boto3.client(service, region_name=self.region, **extra)

    def output(self, key: str, needs: str) -> str:
        """The output ``key``.

        Raises:
            TargetError: the target has none; ``needs`` says what it would have taken (e.g.
                "a process.host in the app").
        """
        value = self.outputs.get(key)
        if not value:
            raise TargetError(f"{self.name} has no {key} output: this needs {needs}")
        return value

    def host_map(self, key: str) -> dict[str, str]:
        """A JSON host map output (host id -> URL, ARN or name); empty when absent."""
        raw = self.outputs.get(key)
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise TargetError(f"{self.name}: output {key} is not a JSON map: {raw!r}") from None
        if not isinstance(value, dict):
            raise TargetError(f"{self.name}: output {key} is not a JSON map: {raw!r}")
        return {str(k): str(v) for k, v in value.items()}


def dev_url(explicit: str | None = None) -> str:
    """The dev server's base URL: ``explicit``, else ``$UNITS_DEV_URL``, else the default."""
    return (explicit or os.environ.get(DEV_URL_ENV) or DEFAULT_DEV_URL).rstrip("/")


def dev_request(base: str, path: str, body: Any = None) -> Any:
    """One JSON request to the dev server's API (GET, or POST when ``body`` is given); the
    decoded reply. An HTTP error status with a JSON body is returned like a success: the dev
    API reports errors as ``{"error": {...}}``.

    Raises:
        TargetError: nothing answers at ``base``, or what answers is not the dev server.
    """
    url = f"{base}{DEV_API}{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=DEV_TIMEOUT) as reply:
            raw = reply.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        if not raw:
            raise _not_dev(base, f"HTTP {exc.code} from {url}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TargetError(
            f"no dev stack at {base} ({reason}): start it with `units dev APP`"
        ) from None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _not_dev(base, f"{url} answered with something that is not JSON") from None


def _not_dev(base: str, why: str) -> TargetError:
    return TargetError(f"{base} is not a units dev server ({why}): start one with `units dev APP`")


def dev_target(base: str) -> Target:
    """The dev stack serving at ``base`` (its outputs read from ``/_units/api/outputs``)."""
    reply = dev_request(base, "/outputs")
    if not isinstance(reply, dict) or not isinstance(reply.get("outputs"), dict):
        raise _not_dev(base, "its /outputs reply has no 'outputs' map")
    return Target(
        region=str(reply.get("region") or "us-east-1"),
        outputs={str(k): str(v) for k, v in reply["outputs"].items()},
        endpoint_url=reply.get("endpoint_url") or None,
        dev_url=base,
    )


def stack_target(name: str, region: str | None = None, cloudformation: Any = None) -> Target:
    """A deployed stack: its outputs read with CloudFormation ``DescribeStacks``.

    ``region`` defaults to the AWS configuration's (``AWS_REGION``, ``~/.aws/config``).

    Raises:
        TargetError: no region, no credentials, or no such stack.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    region = region or boto3.session.Session().region_name
    if not region:
        raise TargetError(f"which region is stack '{name}' in? give --region or set AWS_REGION")
    cfn = cloudformation or boto3.client("cloudformation", region_name=region)
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except NoCredentialsError:
        raise TargetError(
            f"no AWS credentials to read stack '{name}': configure them (aws configure, "
            "AWS_PROFILE) or use the dev stack (drop --stack)"
        ) from None
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if "does not exist" in message:
            raise TargetError(
                f"no stack '{name}' in {region}: deploy it with `cdk deploy`"
            ) from None
        raise TargetError(f"cannot read stack '{name}' in {region}: {message}") from None
    except BotoCoreError as exc:
        raise TargetError(f"cannot read stack '{name}' in {region}: {exc}") from None
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stacks[0].get("Outputs", [])}
    return Target(region=region, outputs=outputs, stack=name)


def resolve_target(stack: str | None, dev: str | None, region: str | None = None) -> Target:
    """``--stack NAME`` (with ``--region``) or else the dev stack (``--dev URL``)."""
    if stack:
        return stack_target(stack, region)
    return dev_target(dev_url(dev))


__all__ = [
    "DEFAULT_DEV_URL",
    "DEV_URL_ENV",
    "Target",
    "TargetError",
    "dev_request",
    "dev_target",
    "dev_url",
    "resolve_target",
    "stack_target",
]
