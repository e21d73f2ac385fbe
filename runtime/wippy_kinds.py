"""What the kit does with the parts of Wippy manifests that have no serverless meaning here.

Wippy's manifests load as they are. Entry kinds the kit has nothing to run for (a terminal
host, WASM, registry and namespace bookkeeping, the storage entries not provided yet) are
skipped: the load reports each in one warning with the reason below, never fails on them.
Router middleware has a name table here too, so that a typo still fails the load while a real
Wippy middleware that API Gateway does not reproduce is reported, not refused (``cors`` is
applied: :mod:`runtime.cors`).

The data lives here, apart from :mod:`runtime.manifest`, so the loader stays about checking
fields and the reasons can be read (and changed) in one place.
"""

from __future__ import annotations

#: Exact kind -> why it is skipped.
SKIPPED_KINDS: dict[str, str] = {
    "terminal.host": "there is no terminal on AWS serverless (run CLI code with `units invoke`)",
    "module.lua": "module surfaces are not supported: use a library.lua and imports",
    "function.wasm": "there is no WASM runtime in this kit",
    "function.wat": "there is no WASM runtime in this kit",
    "process.wasm": "there is no WASM runtime in this kit",
    "pg.scope": "process groups are not provided by this kit",
    "http.static": "static files are not served by the HTTP API (put them in S3 + CloudFront)",
    "registry.entry": "there is no registry module: the entry's data is not queryable",
    "ns.definition": "namespace metadata has no effect here",
    "ns.dependency": "component dependencies are not installed by this kit",
    "ns.requirement": "requirements are not applied: write the value into the target entries",
    "env.variable": "the env module reads the Lambda's environment (env: on the entry)",
    "store.sql": "a SQL-backed store is not provided by this kit "
    "(use store.memory or store.kv.raft: both are DynamoDB here)",
    "contract.definition": "the contract module is not provided by this kit",
    "contract.binding": "the contract module is not provided by this kit",
    "fs.embed": "embedded filesystems come from Wippy's packs, which this kit does not build "
    "(use an fs.directory, or ship the files with the app and read them in a function)",
}
#: Kind prefix (up to and including its dot) -> why every kind under it is skipped.
SKIPPED_FAMILIES: dict[str, str] = {
    "env.storage.": "the env module reads the Lambda's environment (env: on the entry)",
    "template.": "the templates module is not provided by this kit yet",
    "security.": "the security module is not provided: auth is per route (auth: iam|jwt|none)",
    "exec.": "running commands is not possible on Lambda",
    "network.": "network overlays are not available on Lambda",
    "db.cdc.": "change data capture is not provided by this kit",
}
#: The bare ``network`` kind (the base overlay) is one of them too.
_SKIPPED_NETWORK = "network"
#: Precompiled counterparts of the Lua kinds: ``function.lua.bc`` and friends.
_BYTECODE_SUFFIX = ".lua.bc"
_BYTECODE_REASON = "precompiled bytecode cannot be run here: deploy the .lua sources"

#: Examples of each family, for did-you-mean suggestions on an unknown kind.
WIPPY_KIND_EXAMPLES: tuple[str, ...] = (
    *SKIPPED_KINDS,
    "network",
    "network.socks5",
    "network.tailscale",
    "env.storage.os",
    "env.storage.file",
    "env.storage.memory",
    "env.storage.static",
    "env.storage.router",
    "template.jet",
    "template.set",
    "security.policy",
    "security.policy.expr",
    "security.token_store",
    "exec.native",
    "exec.docker",
    "db.cdc.postgres",
    "db.sql.sqlite",
    "db.sql.postgres",
    "db.sql.mysql",
    "fs.directory",
    "fs.embed",
    "function.lua.bc",
    "library.lua.bc",
    "process.lua.bc",
    "workflow.lua.bc",
)


def skip_reason(kind: str) -> str | None:
    """Why entries of ``kind`` are skipped, or None when the kit does not skip it (it runs it,
    or it is no Wippy kind at all)."""
    if kind in SKIPPED_KINDS:
        return SKIPPED_KINDS[kind]
    if kind == _SKIPPED_NETWORK:
        return SKIPPED_FAMILIES["network."]
    if kind.endswith(_BYTECODE_SUFFIX) and kind.count(".") == 2:
        return _BYTECODE_REASON
    for prefix, reason in SKIPPED_FAMILIES.items():
        if kind.startswith(prefix) and len(kind) > len(prefix):
            return reason
    return None


#: Wippy's router middleware the kit applies: ``cors`` becomes the HTTP API's CORS
#: configuration (:mod:`runtime.cors`).
APPLIED_MIDDLEWARE: tuple[str, ...] = ("cors",)
#: Wippy's other router middleware -> why it is not applied here (reported in the load's
#: warning).
MIDDLEWARE_NOT_APPLIED: dict[str, str] = {
    "compress": "API Gateway HTTP APIs do not compress responses",
    "ratelimit": "use API Gateway throttling on the stage",
    "real_ip": "not needed: the request's source IP is API Gateway's sourceIp",
    "metrics": "API Gateway publishes request metrics to CloudWatch",
    "otel": "use Lambda's tracing (Powertools)",
    "token_auth": "authorize with auth: jwt or iam on the router or the endpoint",
    "endpoint_firewall": "authorize with auth: jwt or iam on the router or the endpoint",
    "resource_firewall": "authorize with auth: jwt or iam on the router or the endpoint",
    "sendfile": "responses are built by the function (read the file with fs and return it)",
    "websocket_relay": "WebSockets are not supported by the HTTP API",
    "sse_relay": "server-sent events are not supported (responses are buffered)",
}
#: Every Wippy router middleware name; a name not here is no Wippy middleware: the load
#: refuses it.
MIDDLEWARE: tuple[str, ...] = (*APPLIED_MIDDLEWARE, *MIDDLEWARE_NOT_APPLIED)
