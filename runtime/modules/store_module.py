"""``store``: Wippy's key-value store over DynamoDB.

``store.get(id)`` acquires a ``store.*`` entry (``store.memory``, ``store.kv.raft``,
``store.kv.crdt``) and returns a handle with Wippy's methods: ``get``, ``entry``, ``set``,
``put``, ``list``, ``has``, ``delete``, ``info``, ``release``. Every store's keys live in the
application's store table (``UNITS_STORE_TABLE``), one item per key: ``pk`` the entry's
partition (:attr:`runtime.manifest.StoreEntry.partition`), ``sk`` the key, ``val`` the value
as codec JSON, ``v`` its version (raised by one per write), ``exp`` the expiry (epoch seconds)
and ``ttl`` the same rounded up, the table's TTL attribute that lets DynamoDB sweep it.

Cost, as the kit's goal has it: ``get``, ``entry``, ``has``, ``set``, ``put`` and ``delete``
are one DynamoDB request each; ``list`` is one Query per page (more only when expired items
the sweeper has not removed yet fill a page). An expired item is treated as absent by every
read and write, so expiry is exact even though DynamoDB deletes it later.

In a workflow the store is an effect and is refused: a function (an activity) must do it.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime import codec as wire
from runtime import manifest
from runtime.errors import (
    ALREADY_EXISTS,
    CONFLICT,
    INTERNAL,
    INVALID,
    NOT_FOUND,
    CodecError,
    UnitError,
)
from runtime.modules import io_ops
from runtime.modules.io_ops import IoJob, submit
from runtime.sandbox import lua_text

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

#: DynamoDB's item size limit, and its sort key limit (a store key is the sort key).
ITEM_LIMIT_BYTES = 400 * 1024
KEY_LIMIT_BYTES = 1024
#: Wippy's list page sizes.
DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT = 100, 1000
#: What each kind reports from ``info()`` beyond its id: backend, consistency, conditional_put.
_INFO = {
    "store.memory": ("memory", "linearizable", True),
    "store.kv.raft": ("kv.raft", "linearizable", True),
    "store.kv.crdt": ("kv.crdt", "eventual", False),
}
IN_WORKFLOW = (
    "store: a store is outside state, an effect a workflow cannot replay; call a function "
    "(an activity) that uses the store, with funcs.call, from the workflow instead"
)

_LUA = """
local host, kit = ...
local await, new_error = kit.await, kit.new_error
local type, error, setmetatable, tostring, sformat = type, error, setmetatable, tostring,
  string.format

local handles = setmetatable({}, { __mode = "k" })
local store_mt = { __metatable = "store.Store" }
local methods = {}
store_mt.__index = methods
store_mt.__tostring = function(self)
  local h = handles[self]
  return (h ~= nil and h.released) and "store.Store{released}" or "store.Store{}"
end

local function invalid(message) return nil, new_error("Invalid", message, nil, false) end

local function own(self, method)
  local h = handles[self]
  if h == nil then
    error(sformat("store:%s: call it on a store, with ':' (s:%s(...))", method, method), 3)
  end
  return h
end

-- Strings, and numbers as their text (Wippy's CheckString takes both).
local function text(v, method, what)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return tostring(v) end
  error(sformat("store:%s: %s must be a string, got %s", method, what, t), 3)
end

local function run(ticket, err)
  if ticket == nil then return nil, err end
  return await("io", ticket)
end

local function keyed(method)
  return function(self, key)
    local h = own(self, method)
    if h.released then return invalid("store is released") end
    key = text(key, method, "key")
    if key == "" then return invalid("key is required") end
    local ticket, err = host[method](h.id, key)
    if ticket == nil then return (method == "has") and false or nil, err end
    return await("io", ticket)
  end
end
methods.get = keyed("get")
methods.entry = keyed("entry")
methods.has = keyed("has")
methods.delete = keyed("delete")

function methods.set(self, key, value, ttl)
  local h = own(self, "set")
  if h.released then return invalid("store is released") end
  key = text(key, "set", "key")
  if key == "" then return invalid("key is required") end
  if value == nil then return invalid("value is required") end
  if ttl ~= nil and type(ttl) ~= "number" then
    error(sformat("store:set: ttl must be a number of seconds, got %s", type(ttl)), 2)
  end
  return run(host.set(h.id, key, value, ttl or 0))
end

function methods.put(self, key, value, opts)
  local h = own(self, "put")
  if h.released then return invalid("store is released") end
  key = text(key, "put", "key")
  if key == "" then return invalid("key is required") end
  if value == nil then return invalid("value is required") end
  if opts ~= nil and type(opts) ~= "table" then return invalid("options must be a table") end
  return run(host.put(h.id, key, value, opts))
end

function methods.list(self, opts)
  local h = own(self, "list")
  if h.released then return invalid("store is released") end
  if opts ~= nil and type(opts) ~= "table" then return invalid("options must be a table") end
  return run(host.list(h.id, opts))
end

function methods.info(self)
  local h = own(self, "info")
  if h.released then return invalid("store is released") end
  return host.info(h.id)
end

function methods.release(self)
  own(self, "release").released = true
  return true
end

local M = {
  backend = { MEMORY = "memory", SQL = "sql", KV_RAFT = "kv.raft", KV_CRDT = "kv.crdt",
              UNKNOWN = "unknown" },
  consistency = { LINEARIZABLE = "linearizable", EVENTUAL = "eventual", LOCAL = "local",
                  UNKNOWN = "unknown" },
}
function M.get(id)
  if type(id) ~= "string" and type(id) ~= "number" then
    error(sformat("store.get: the store id must be a string, got %s", type(id)), 2)
  end
  id = tostring(id)
  if id == "" then return invalid("resource id is required") end
  local full, err = host.acquire(id)
  if full == nil then return nil, err end
  local s = setmetatable({}, store_mt)
  handles[s] = { id = full, released = false }
  return s
end
return M
"""


def _error(kind: str, message: str, retryable: bool = False) -> UnitError:
    return UnitError(kind, message, retryable=retryable)


def check_key(key: bytes, what: str = "key") -> str:
    """A store key as text: valid UTF-8 (a DynamoDB string) of at most 1024 bytes (its sort
    key limit).

    Raises:
        UnitError: INVALID naming what is wrong with it.
    """
    if len(key) > KEY_LIMIT_BYTES:
        raise _error(INVALID, f"{what} is {len(key)} bytes; a store key holds at most 1024")
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        raise _error(INVALID, f"{what} is not valid UTF-8 text: {key[:40]!r}") from None


class _Store:
    """One store entry's requests against the table."""

    def __init__(self, engine: Engine, entry: manifest.StoreEntry, table: str) -> None:
        self.engine, self.entry, self.table = engine, entry, table
        self.client = engine.resources.dynamodb
        self.consistent = entry.kind != "store.kv.crdt"

    def now(self) -> float:
        return self.engine.clock.now()

    def key(self, key: str) -> dict[str, Any]:
        return {"pk": {"S": self.entry.partition}, "sk": {"S": key}}

    @staticmethod
    def live(item: dict[str, Any] | None, now: float) -> bool:
        return bool(item) and ("exp" not in item or float(item["exp"]["N"]) > now)  # type: ignore[index]


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec

    def refuse_in_workflow() -> None:
        if (why := io_ops.refusal(engine, "store", IN_WORKFLOW)) is not None:
            raise _error(INVALID, why)

    def store_of(raw_id: Any) -> _Store:
        refuse_in_workflow()
        entry_id = lua_text(raw_id)
        entry = engine.registry.find(entry_id)
        if entry is None:
            raise _error(NOT_FOUND, f"store.get: no store entry '{entry_id}'")
        if not isinstance(entry, manifest.StoreEntry):
            raise _error(INVALID, f"store.get: '{entry_id}' is a {entry.kind}, not a store")
        table = engine.resources.store_table
        if not table or engine.resources.dynamodb is None:
            raise _error(
                INTERNAL, f"store '{entry_id}': no store table is configured (UNITS_STORE_TABLE)"
            )
        return _Store(engine, entry, table)

    def encode(value: Any, key: str) -> str:
        try:
            return json.dumps(
                wire.to_json_value(codec.to_python(value, "value")), separators=(",", ":")
            )
        except CodecError as exc:
            message = f"store: the value of '{key}' cannot be stored: {exc.message}"
            raise _error(INVALID, message) from None

    def decode(item: dict[str, Any]) -> Any:
        return codec.to_lua(wire.from_json_value(json.loads(item["val"]["S"])), "value")

    def check_size(s: _Store, key: str, text: str) -> None:
        # DynamoDB counts attribute names and values (UTF-8); numbers at most 21 bytes each.
        size = len(s.entry.partition.encode()) + len(key.encode()) + len(text.encode()) + 80
        if size > ITEM_LIMIT_BYTES:
            raise _error(
                INVALID,
                f"store: the value of '{key}' is {len(text.encode())} bytes encoded; a store "
                "item holds at most 400 KB (DynamoDB's item limit), key included; nothing was "
                "written",
            )

    def failed(what: str, exc: BaseException) -> UnitError:
        if isinstance(exc, UnitError):
            return exc
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", str(exc))
            return _error(INTERNAL, f"{what}: DynamoDB {code}: {message}")
        return _error(INTERNAL, f"{what}: {exc}")

    def job(
        what: str, run: Any, finish: Any, failure: Any = None
    ) -> tuple[int, None] | tuple[None, Any]:
        def done(result: Any, exc: BaseException | None) -> tuple[Any, ...]:
            if exc is not None:
                if failure is not None:
                    handled = failure(exc)
                    if handled is not None:
                        return handled
                return None, state.error_value(failed(what, exc))
            return finish(result)

        return submit(engine, IoJob(run, done)), None

    def fallible(fn: Any) -> Any:
        return io_ops.fallible(state, fn)

    # -- module ---------------------------------------------------------------------------
    def acquire(raw_id: Any) -> Any:
        return store_of(raw_id).entry.id

    def get(raw_id: Any, raw_key: bytes) -> Any:
        s, key = store_of(raw_id), check_key(raw_key)
        now = s.now()

        def run() -> Any:
            return s.client.get_item(
                TableName=s.table, Key=s.key(key), ConsistentRead=s.consistent
            ).get("Item")

        def finish(item: Any) -> tuple[Any, ...]:
            if not s.live(item, now):
                return None, state.error_value(
                    _error(NOT_FOUND, f"store get: key not found: {key}")
                )
            return decode(item), None

        return job("store get", run, finish)

    def entry(raw_id: Any, raw_key: bytes) -> Any:
        s, key = store_of(raw_id), check_key(raw_key)
        now = s.now()

        def run() -> Any:
            return s.client.get_item(
                TableName=s.table, Key=s.key(key), ConsistentRead=s.consistent
            ).get("Item")

        def finish(item: Any) -> tuple[Any, ...]:
            if not s.live(item, now):
                err = _error(NOT_FOUND, f"store entry: key not found: {key}")
                return None, state.error_value(err)
            return entry_table(key, item), None

        return job("store entry", run, finish)

    def entry_table(key: str, item: dict[str, Any]) -> Any:
        return state.table(key=key.encode(), value=decode(item), version=item["v"]["N"].encode())

    def has(raw_id: Any, raw_key: bytes) -> Any:
        s, key = store_of(raw_id), check_key(raw_key)
        now = s.now()

        def run() -> Any:
            return s.client.get_item(
                TableName=s.table,
                Key=s.key(key),
                ConsistentRead=s.consistent,
                ProjectionExpression="pk, #exp",
                ExpressionAttributeNames={"#exp": "exp"},
            ).get("Item")

        def failure(exc: BaseException) -> tuple[Any, ...]:
            return False, state.error_value(failed("store has", exc))

        return job("store has", run, lambda item: (s.live(item, now), None), failure)

    def delete(raw_id: Any, raw_key: bytes) -> Any:
        s, key = store_of(raw_id), check_key(raw_key)
        now = s.now()

        def run() -> Any:
            return s.client.delete_item(
                TableName=s.table, Key=s.key(key), ReturnValues="ALL_OLD"
            ).get("Attributes")

        return job("store delete", run, lambda old: (s.live(old, now), None))

    def expiry(ttl: float, now: float) -> tuple[str, dict[str, Any]]:
        """The update clause and values that set (ttl > 0) or clear the expiry."""
        if ttl > 0:
            at = now + ttl
            return "SET #exp = :exp, #ttl = :ttl", {
                ":exp": {"N": repr(round(at, 6))},
                ":ttl": {"N": str(math.ceil(at))},
            }
        return "REMOVE #exp, #ttl", {}

    def write_request(s: _Store, key: str, text: str, ttl: float, now: float) -> dict[str, Any]:
        exp_clause, exp_values = expiry(ttl, now)
        sets, removes = exp_clause.split(" ", 1)
        update = "SET #val = :val, #v = if_not_exists(#v, :zero) + :one"
        update += f", {removes}" if sets == "SET" else f" {exp_clause}"
        return {
            "TableName": s.table,
            "Key": s.key(key),
            "UpdateExpression": update,
            "ExpressionAttributeNames": {"#val": "val", "#v": "v", "#exp": "exp", "#ttl": "ttl"},
            "ExpressionAttributeValues": {
                ":val": {"S": text},
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
                **exp_values,
            },
        }

    def set_(raw_id: Any, raw_key: bytes, value: Any, ttl: Any) -> Any:
        s, key = store_of(raw_id), check_key(raw_key)
        text = encode(value, key)
        check_size(s, key, text)
        request = write_request(s, key, text, float(ttl), s.now())

        def run() -> Any:
            return s.client.update_item(**request)

        return job("store set", run, lambda _: (True, None))

    def put(raw_id: Any, raw_key: bytes, value: Any, opts: Any) -> Any:
        s, key = store_of(raw_id), check_key(raw_key)
        options = codec.to_python(opts, "options") if opts is not None else {}
        ttl, only_if_absent, version = put_options(options)
        if (only_if_absent or version is not None) and not _INFO[s.entry.kind][2]:
            raise _error(
                INVALID,
                f"store put: conditional writes are not supported by {s.entry.kind} stores "
                "(use store.kv.raft or store.memory)",
            )
        text = encode(value, key)
        check_size(s, key, text)
        now = s.now()
        request = write_request(s, key, text, ttl, now)
        request["ReturnValues"] = "ALL_NEW"
        live = "(attribute_not_exists(#exp) OR #exp > :now)"
        if only_if_absent:
            request["ConditionExpression"] = "attribute_not_exists(pk) OR #exp <= :now"
        elif version is not None:
            request["ConditionExpression"] = f"#v = :ver AND {live}"
            request["ExpressionAttributeValues"][":ver"] = {"N": str(version)}
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if only_if_absent or version is not None:
            request["ExpressionAttributeValues"][":now"] = {"N": repr(round(now, 6))}

        def run() -> Any:
            return s.client.update_item(**request)["Attributes"]

        def failure(exc: BaseException) -> tuple[Any, ...] | None:
            if not isinstance(exc, ClientError):
                return None
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                return None
            if only_if_absent:
                err = _error(ALREADY_EXISTS, f"store put: key already exists: {key}")
            elif not s.live(exc.response.get("Item"), now):
                err = _error(NOT_FOUND, f"store put: key not found: {key}")
            else:
                err = _error(CONFLICT, f"store put: version mismatch for {key}", retryable=True)
            return None, state.error_value(err)

        return job("store put", run, lambda item: (entry_table(key, item), None), failure)

    def list_(raw_id: Any, opts: Any) -> Any:
        s = store_of(raw_id)
        options = codec.to_python(opts, "options") if opts is not None else {}
        prefix, after, limit = list_options(options)
        now = s.now()

        def run() -> tuple[list[dict[str, Any]], bool]:
            request: dict[str, Any] = {
                "TableName": s.table,
                "ConsistentRead": s.consistent,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": s.entry.partition}},
            }
            if prefix:
                request["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
                request["ExpressionAttributeValues"][":prefix"] = {"S": prefix}
            start = None
            if after and after >= prefix:
                start = {"pk": {"S": s.entry.partition}, "sk": {"S": after}}
            items: list[dict[str, Any]] = []
            while True:
                # One more than the page: whether there is more is whether it came.
                request["Limit"] = limit + 1 - len(items)
                if start is not None:
                    request["ExclusiveStartKey"] = start
                answer = s.client.query(**request)
                items += [i for i in answer.get("Items", []) if s.live(i, now)]
                start = answer.get("LastEvaluatedKey")
                if len(items) > limit or start is None:
                    return items[:limit], len(items) > limit

        def finish(result: tuple[list[dict[str, Any]], bool]) -> tuple[Any, ...]:
            items, more = result
            entries = state.table(*(entry_table(i["sk"]["S"], i) for i in items))
            cursor = items[-1]["sk"]["S"] if items else ""
            return state.table(items=entries, cursor=cursor.encode(), has_more=more), None

        return job("store list", run, finish)

    def info(raw_id: Any) -> Any:
        s = store_of(raw_id)
        backend, consistency, conditional = _INFO[s.entry.kind]
        return state.table(
            id=s.entry.id.encode(),
            backend=backend.encode(),
            consistency=consistency.encode(),
            durable=True,
            list=True,
            versioned=True,
            conditional_put=conditional,
            ttl=True,
        ), None

    host = state.table(
        acquire=fallible(acquire),
        get=fallible(get),
        entry=fallible(entry),
        has=fallible(has),
        delete=fallible(delete),
        set=fallible(set_),
        put=fallible(put),
        list=fallible(list_),
        info=fallible(info),
    )
    return state.lua.execute(_LUA, host, state.kit, name="=[kit]store")


def _number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def put_options(options: Any) -> tuple[float, bool, int | None]:
    """``put``'s options as Wippy checks them: (ttl seconds, only_if_absent, if_version)."""
    if not isinstance(options, dict):
        raise _error(INVALID, "options must be a table")
    ttl = options.get("ttl", 0)
    if not _number(ttl) or ttl < 0:
        raise _error(INVALID, "ttl must be a non-negative number")
    absent = options.get("only_if_absent", False)
    if not isinstance(absent, bool):
        raise _error(INVALID, "only_if_absent must be a boolean")
    raw = options.get("if_version")
    version = None
    if raw is not None:
        if isinstance(raw, str) and raw.isdigit():
            version = int(raw)
        elif isinstance(raw, int) and not isinstance(raw, bool):
            version = raw
        elif isinstance(raw, float) and raw.is_integer() and 0 <= raw <= 2**53 - 1:
            version = int(raw)
        if version is None or version <= 0:
            raise _error(INVALID, "if_version must be a positive version")
    if absent and version is not None:
        raise _error(INVALID, "only_if_absent and if_version are mutually exclusive")
    return float(ttl), absent, version


def list_options(options: Any) -> tuple[str, str, int]:
    """``list``'s options as Wippy checks them: (prefix, after, limit clamped to 1..1000)."""
    if not isinstance(options, dict):
        raise _error(INVALID, "options must be a table")
    prefix, after = options.get("prefix", ""), options.get("after", "")
    if not isinstance(prefix, str):
        raise _error(INVALID, "prefix must be a string")
    if not isinstance(after, str):
        raise _error(INVALID, "after must be a string")
    check_key(prefix.encode(), "prefix")
    check_key(after.encode(), "after")
    limit = options.get("limit", 0)
    if isinstance(limit, float) and limit.is_integer():
        limit = int(limit)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise _error(INVALID, "limit must be a non-negative integer")
    if limit == 0:
        limit = DEFAULT_LIST_LIMIT
    return prefix, after, min(limit, MAX_LIST_LIMIT)
