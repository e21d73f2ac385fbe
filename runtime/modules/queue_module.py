"""``queue``: Wippy's message queue module over SQS.

``queue.publish(queue_id, data, headers?)`` sends one message to a ``queue.queue`` entry's SQS
queue (one ``SendMessage``; ``true`` or ``nil, err``); ``queue.message()`` is the message a
``queue.consumer``'s function is handling, with Wippy's methods ``id``, ``header``,
``headers``, ``ack`` and ``nack``; ``queue.info(queue_id)`` reads the queue's counts (one
``GetQueueAttributes``: ``message_count``, ``ready``, ``in_flight``, as Wippy's SQS driver).

Bodies, headers and the size limit are :mod:`runtime.message_queues`'s. Settling a message
early (``msg:ack()`` / ``msg:nack()``) decides its outcome whatever the function does next; the
outcome takes effect when the function returns (the Lambda's partial batch response deletes
an acked message and leaves a nacked one to be received again).

In a workflow, publishing is an effect and is refused: a function (an activity) must do it.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime import manifest
from runtime.errors import INTERNAL, INVALID, CodecError, UnitError
from runtime.message_queues import encode_body, send_request
from runtime.modules import io_ops
from runtime.modules.io_ops import IoJob, submit
from runtime.queue_consumer import Delivery, live_delivery
from runtime.sandbox import lua_text

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

IN_WORKFLOW = (
    "queue: publishing to a queue is an effect a workflow cannot replay; call a function "
    "(an activity) that publishes, with funcs.call, from the workflow instead"
)

_LUA = """
local host, kit = ...
local await, new_error = kit.await, kit.new_error
local type, error, setmetatable, tostring, next, sformat = type, error, setmetatable, tostring,
  next, string.format

local function invalid(message) return nil, new_error("Invalid", message, nil, false) end

local serials = setmetatable({}, { __mode = "k" })
local message_mt = { __metatable = "queue.Message" }
local methods = {}
message_mt.__index = methods
message_mt.__tostring = function(self)
  local s = serials[self]
  return s and host.describe(s) or "queue.Message{}"
end

local function own(self, method)
  local s = serials[self]
  if s == nil then
    error(sformat("queue.Message:%s: call it on a message, with ':' (msg:%s(...))", method,
      method), 3)
  end
  return s
end

function methods.id(self) return host.id(own(self, "id")) end
function methods.headers(self) return host.headers(own(self, "headers")) end
function methods.ack(self) return host.settle(own(self, "ack"), "ack") end
function methods.nack(self) return host.settle(own(self, "nack"), "nack") end
function methods.header(self, key)
  local s = own(self, "header")
  local t = type(key)
  if t == "number" then key = tostring(key)
  elseif t ~= "string" then
    error(sformat("queue.Message:header: the key must be a string, got %s", t), 2)
  end
  return host.header(s, key)
end

local function queue_id(fn, id)
  local t = type(id)
  if t == "number" then return tostring(id) end
  if t ~= "string" then
    error(sformat("queue.%s: the queue id must be a string, got %s", fn, t), 3)
  end
  return id
end

local M = {}
function M.publish(id, data, headers)
  if id == nil then return invalid("queue ID required") end
  id = queue_id("publish", id)
  if id == "" then return invalid("queue ID required") end
  if data == nil then return invalid("message data required") end
  if type(data) == "table" and next(data) == nil then
    return invalid("message data cannot be empty")
  end
  if headers ~= nil and type(headers) ~= "table" then
    return invalid("queue.publish: headers must be a table, got " .. type(headers))
  end
  local ticket, err = host.publish(id, data, headers)
  if ticket == nil then return nil, err end
  return await("io", ticket)
end

function M.info(id)
  if id == nil then return invalid("queue ID required") end
  id = queue_id("info", id)
  if id == "" then return invalid("queue ID required") end
  local ticket, err = host.info(id)
  if ticket == nil then return nil, err end
  return await("io", ticket)
end

function M.message()
  local serial, err = host.message()
  if serial == nil then return nil, err end
  local msg = setmetatable({}, message_mt)
  serials[msg] = serial
  return msg
end
return M
"""


def _error(kind: str, message: str, retryable: bool = False) -> UnitError:
    return UnitError(kind, message, retryable=retryable)


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec

    def refuse_in_workflow() -> None:
        if (why := io_ops.refusal(engine, "queue", IN_WORKFLOW)) is not None:
            raise _error(INVALID, why)

    def queue_of(raw_id: Any, what: str) -> tuple[manifest.QueueEntry, str]:
        refuse_in_workflow()
        queue_id = lua_text(raw_id)
        entry = engine.registry.find(queue_id)
        if not isinstance(entry, manifest.QueueEntry):
            found = f"a {entry.kind}, not a queue.queue" if entry is not None else "not defined"
            # Wippy: an unknown queue is the manager's failure (Internal).
            raise _error(INTERNAL, f"{what} failed: queue '{queue_id}' is {found}")
        url = engine.resources.queues.get(queue_id)
        if not url or engine.resources.sqs is None:
            raise _error(
                INTERNAL,
                f"{what} failed: queue '{queue_id}' has no SQS queue configured (UNITS_QUEUES)",
            )
        return entry, url

    def failed(what: str, exc: BaseException) -> UnitError:
        if isinstance(exc, UnitError):
            return exc
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            return _error(
                INTERNAL, f"{what}: SQS {error.get('Code', '')}: {error.get('Message', str(exc))}"
            )
        return _error(INTERNAL, f"{what}: {exc}")

    def job(what: str, run: Any, finish: Any) -> tuple[int, None]:
        def done(result: Any, exc: BaseException | None) -> tuple[Any, ...]:
            if exc is not None:
                return None, state.error_value(failed(what, exc))
            return finish(result)

        return submit(engine, IoJob(run, done)), None

    def python_headers(raw: Any) -> dict[str, Any]:
        if raw is None:
            return {}
        try:
            headers = codec.to_python(raw, "headers")
        except CodecError as exc:
            raise _error(INVALID, f"queue.publish: {exc.message}") from None
        if isinstance(headers, list):
            raise _error(INVALID, "queue.publish: headers must be a table of names to values")
        for name, value in headers.items():
            if isinstance(value, bytes):
                raise _error(INVALID, f"queue.publish: header '{name}' is not valid UTF-8 text")
            if not isinstance(value, str | int | float | bool):
                raise _error(
                    INVALID,
                    f"queue.publish: header '{name}' must be a string, number or boolean, "
                    f"got {type(value).__name__}",
                )
        return headers

    # -- module ---------------------------------------------------------------------------
    def publish(raw_id: Any, data: Any, raw_headers: Any) -> Any:
        entry, url = queue_of(raw_id, "publish")
        try:
            body = encode_body(codec.to_python(data, "data"))
        except CodecError as exc:
            raise _error(
                INVALID, f"queue.publish: the message data cannot be sent: {exc.message}"
            ) from None
        headers = python_headers(raw_headers)
        request = send_request(
            entry.id, url, body, headers, fifo=entry.fifo, message_id=str(uuid.uuid4())
        )
        sqs = engine.resources.sqs

        def run() -> Any:
            return sqs.send_message(**request)

        return job("publish failed", run, lambda _: (True, None))

    def info(raw_id: Any) -> Any:
        _entry, url = queue_of(raw_id, "get queue info")
        sqs = engine.resources.sqs

        def run() -> Any:
            return sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]

        def finish(attributes: dict[str, str]) -> tuple[Any, ...]:
            ready = int(attributes.get("ApproximateNumberOfMessages", 0))
            in_flight = int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
            return state.table(
                message_count=ready + in_flight, ready=ready, in_flight=in_flight
            ), None

        return job("get queue info failed", run, finish)

    def message() -> Any:
        refuse_in_workflow()
        invocation = engine.invocation
        delivery = invocation.delivery if invocation is not None else None
        if not isinstance(delivery, Delivery) or delivery.released:
            raise _error(INVALID, "no delivery found in context")
        return delivery.serial, None

    def live(serial: Any) -> Delivery:
        delivery = live_delivery(int(serial))
        if delivery is None:
            raise _error(INVALID, "queue.Message released")
        return delivery

    def msg_id(serial: Any) -> Any:
        return live(serial).message_id.encode(), None

    def header(serial: Any, key: bytes) -> Any:
        headers = live(serial).headers
        name = lua_text(key)
        if name not in headers:
            return None, None
        return codec.to_lua(headers[name], "header"), None

    def headers(serial: Any) -> Any:
        return codec.to_lua(dict(live(serial).headers), "headers"), None

    def settle(serial: Any, outcome: bytes) -> Any:
        if not live(serial).settle(lua_text(outcome)):
            raise _error(INVALID, "queue.Message already settled")
        return True, None

    def describe(serial: Any) -> Any:
        delivery = live_delivery(int(serial))
        if delivery is None:
            return b"queue.Message{released}"
        return f"queue.Message{{id={delivery.message_id}}}".encode()

    host = state.table(
        publish=state.wrap_fallible(publish),
        info=state.wrap_fallible(info),
        message=state.wrap_fallible(message),
        id=state.wrap_fallible(msg_id),
        header=state.wrap_fallible(header),
        headers=state.wrap_fallible(headers),
        settle=state.wrap_fallible(settle),
        describe=state.wrap(describe),
    )
    return state.lua.execute(_LUA, host, state.kit, name="=[kit]queue")
