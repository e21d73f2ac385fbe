"""``cloudstorage``: Wippy's object storage over S3.

``cloudstorage.get(id)`` acquires a ``cloudstorage.s3`` entry and returns a handle with Wippy's
methods: ``upload_object``, ``head_object``, ``list_objects``, ``delete_objects``,
``presigned_get_url``, ``presigned_put_url``, ``release``. The bucket is the one the stack made
for the entry, or the entry's own ``bucket`` (``UNITS_BUCKETS`` maps each entry to its bucket);
the client uses the region of the entry's ``config.aws`` and its ``endpoint`` (path-style), and
is signed by the Lambda's role: no credential is ever read from the manifest or shown to Lua
(a presigned URL carries the role's access key id and session token, as every presigned URL
does, never the secret).

``download_object`` writes the object into an ``fs`` file (an fs.File opened for writing,
streamed from S3 to the file); ``upload_object`` takes a string or an fs.File (what is left of
it from its position).

In a workflow cloud storage is an effect and is refused: a function (an activity) must do it.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime import manifest
from runtime.errors import CONFLICT, INTERNAL, INVALID, NOT_FOUND, CodecError, UnitError
from runtime.modules import fs_module, io_ops
from runtime.modules.io_ops import IoJob, submit
from runtime.resources import expand_env
from runtime.sandbox import lua_text

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

#: S3's key limit (UTF-8 bytes).
KEY_LIMIT_BYTES = 1024
#: The largest object ``upload_object`` sends: the content is one Lua string held in the
#: Lambda's memory next to the request's copy, so the cap is far below S3's 5 GB for one PUT.
MAX_OBJECT_BYTES = 32 * 1024 * 1024
#: Presigned URLs: Wippy's default lifetime, and SigV4's longest.
DEFAULT_EXPIRATION, MAX_EXPIRATION = 3600, 7 * 24 * 3600
#: DeleteObjects takes at most this many keys per request.
_DELETE_BATCH = 1000
IN_WORKFLOW = (
    "cloudstorage: object storage is outside state, an effect a workflow cannot replay; call "
    "a function (an activity) that uses it, with funcs.call, from the workflow instead"
)
#: download_object copies the object's body to the file in pieces of this size.
_CHUNK = 1 << 20

_LUA = """
local host, kit, fs_file_id = ...
local await, new_error = kit.await, kit.new_error
local type, error, setmetatable, tostring, sformat = type, error, setmetatable, tostring,
  string.format

local handles = setmetatable({}, { __mode = "k" })
local storage_mt = { __metatable = "cloudstorage.Storage" }
local methods = {}
storage_mt.__index = methods
storage_mt.__tostring = function() return "cloudstorage.Storage" end

local function invalid(message) return nil, new_error("Invalid", message, nil, false) end

local function own(self, method)
  local h = handles[self]
  if h == nil then
    error(sformat("cloudstorage:%s: call it on a storage, with ':' (s:%s(...))", method, method),
      3)
  end
  return h
end

local function text(v, method, what)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return tostring(v) end
  error(sformat("cloudstorage:%s: %s must be a string, got %s", method, what, t), 3)
end

local function options(v, method, index)
  if v ~= nil and type(v) ~= "table" then
    error(sformat("cloudstorage:%s: argument #%d must be an options table, got %s", method,
      index, type(v)), 3)
  end
  return v
end

local function run(ticket, err)
  if ticket == nil then return nil, err end
  return await("io", ticket)
end

local function active(self, method)
  local h = own(self, method)
  if h.released then return nil end
  return h
end

function methods.upload_object(self, key, content, opts)
  local h = active(self, "upload_object")
  if h == nil then return invalid("storage has been released") end
  key = text(key, "upload_object", "key")
  if key == "" then return invalid("key is required") end
  if content == nil then return invalid("content is required") end
  local file
  if type(content) ~= "string" then
    file = fs_file_id(content)
    if file == nil then
      return invalid("content must be a string or an fs.File, got " .. type(content))
    end
    content = nil
  end
  return run(host.upload(h.id, key, content, file, options(opts, "upload_object", 3)))
end

function methods.download_object(self, key, writer, opts)
  local h = active(self, "download_object")
  if h == nil then return invalid("storage has been released") end
  key = text(key, "download_object", "key")
  if key == "" then return invalid("key is required") end
  if writer == nil then return invalid("writer is required (an fs.File opened for writing)") end
  local file = fs_file_id(writer)
  if file == nil then
    return invalid("writer must be an fs.File opened for writing, got " .. type(writer))
  end
  return run(host.download(h.id, key, file, options(opts, "download_object", 3)))
end

function methods.head_object(self, key)
  local h = active(self, "head_object")
  if h == nil then return invalid("storage has been released") end
  key = text(key, "head_object", "key")
  if key == "" then return invalid("key is required") end
  return run(host.head(h.id, key))
end

function methods.list_objects(self, opts)
  local h = active(self, "list_objects")
  if h == nil then return invalid("storage has been released") end
  return run(host.list(h.id, options(opts, "list_objects", 1)))
end

function methods.delete_objects(self, keys)
  local h = active(self, "delete_objects")
  if h == nil then return invalid("storage has been released") end
  if type(keys) ~= "table" then
    error(sformat("cloudstorage:delete_objects: keys must be a list of strings, got %s",
      type(keys)), 2)
  end
  return run(host.delete(h.id, keys))
end

local function presign(method, op)
  return function(self, key, opts)
    local h = active(self, method)
    if h == nil then return invalid("storage has been released") end
    key = text(key, method, "key")
    if key == "" then return invalid("key is required") end
    return host[op](h.id, key, options(opts, method, 2))
  end
end
methods.presigned_get_url = presign("presigned_get_url", "presign_get")
methods.presigned_put_url = presign("presigned_put_url", "presign_put")

function methods.release(self)
  own(self, "release").released = true
  return true
end

local M = {}
function M.get(id)
  if type(id) ~= "string" and type(id) ~= "number" then
    error(sformat("cloudstorage.get: the storage id must be a string, got %s", type(id)), 2)
  end
  id = tostring(id)
  if id == "" then return invalid("resource ID is required") end
  local full, err = host.acquire(id)
  if full == nil then return nil, err end
  local s = setmetatable({}, storage_mt)
  handles[s] = { id = full, released = false }
  return s, nil
end
return M
"""


def _error(kind: str, message: str) -> UnitError:
    return UnitError(kind, message, retryable=False)


def check_key(raw: bytes, what: str = "key") -> str:
    """An object key as text: at most 1024 bytes of UTF-8 with no control characters (S3's
    XML listings cannot carry most of them back).

    Raises:
        UnitError: INVALID naming what is wrong with it.
    """
    if not raw:
        raise _error(INVALID, f"{what} is required")
    if len(raw) > KEY_LIMIT_BYTES:
        raise _error(INVALID, f"{what} is {len(raw)} bytes; an S3 object key holds at most 1024")
    try:
        key = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _error(INVALID, f"{what} is not valid UTF-8 text: {raw[:40]!r}") from None
    bad = next((c for c in key if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        raise _error(
            INVALID, f"{what} {key[:60]!r} has a control character (U+{ord(bad):04X}), refused"
        )
    return key


#: Extra request headers of the upload running on this thread (``upload_object``'s ``headers``
#: option), added by an event handler just before signing.
_extra = threading.local()


def _add_headers(request: Any, **_: Any) -> None:
    for name, value in getattr(_extra, "headers", {}).items():
        request.headers[name] = value


class _Bucket:
    """One ``cloudstorage.s3`` entry: its bucket and the client for its config."""

    def __init__(self, engine: Engine, entry: manifest.S3StorageEntry) -> None:
        resources = engine.resources
        environ = resources.environ if resources.environ is not None else os.environ
        try:
            bucket = resources.buckets.get(entry.id) or (
                expand_env(entry.bucket, environ) if entry.bucket else None
            )
            config = engine.registry.get(entry.config)
            region = getattr(config, "region", None)
            region = expand_env(region, environ) if region else None
            endpoint = expand_env(entry.endpoint, environ) if entry.endpoint else None
        except KeyError as exc:
            raise _error(
                INTERNAL, f"cloudstorage '{entry.id}': environment variable {exc} is not set"
            ) from None
        if not bucket:
            raise _error(
                INTERNAL, f"cloudstorage '{entry.id}': no bucket is configured (UNITS_BUCKETS)"
            )
        self.entry, self.bucket = entry, bucket
        self.client = resources.s3_client(region or None, endpoint or None)
        events = self.client.meta.events
        events.register("before-sign.s3.PutObject", _add_headers, unique_id="units-put-headers")


def _text_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _error(INVALID, f"{what} must be a table of strings")
    out = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise _error(INVALID, f"{what}: keys must be strings")
        out[k] = v if isinstance(v, str) else _scalar_text(v)
    return out


def _scalar_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
    raise _error(INVALID, f"expected a string, got {type(v).__name__}")


def _failed(what: str, exc: BaseException) -> UnitError:
    if isinstance(exc, UnitError):
        return exc
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            return _error(NOT_FOUND, f"{what}: object not found")
        if code in ("NotModified", "304") or status == 304:
            return _error(CONFLICT, f"{what}: precondition failed (not modified)")
        if code in ("PreconditionFailed", "412") or status == 412:
            return _error(CONFLICT, f"{what}: precondition failed")
        if code == "ConditionalRequestConflict" or status == 409:
            return _error(CONFLICT, f"{what}: precondition failed (a concurrent write)")
        return _error(INTERNAL, f"{what}: S3 {code}: {err.get('Message', exc)}")
    return _error(INTERNAL, f"{what}: {exc}")


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec
    buckets: dict[str, _Bucket] = {}

    def bucket_of(raw_id: Any) -> _Bucket:
        if (why := io_ops.refusal(engine, "cloudstorage", IN_WORKFLOW)) is not None:
            raise _error(INVALID, why)
        entry_id = lua_text(raw_id)
        cached = buckets.get(entry_id)
        if cached is not None:
            return cached
        entry = engine.registry.find(entry_id)
        if entry is None:
            raise _error(NOT_FOUND, f"cloudstorage.get: no cloud storage entry '{entry_id}'")
        if not isinstance(entry, manifest.S3StorageEntry):
            raise _error(
                INVALID,
                f"cloudstorage.get: '{entry_id}' is a {entry.kind}, not a cloud storage resource",
            )
        buckets[entry_id] = _Bucket(engine, entry)
        return buckets[entry_id]

    def options(opts: Any) -> dict[str, Any]:
        if opts is None:
            return {}
        try:
            value = codec.to_python(opts, "options")
        except CodecError as exc:
            raise _error(INVALID, f"options: {exc.message}") from None
        return value if isinstance(value, dict) else {}

    def job(what: str, run: Any, finish: Any) -> tuple[int, None]:
        def done(result: Any, exc: BaseException | None) -> tuple[Any, ...]:
            if exc is not None:
                return None, state.error_value(_failed(what, exc))
            return finish(result)

        return submit(engine, IoJob(run, done)), None

    def fallible(fn: Any) -> Any:
        return io_ops.fallible(state, fn)

    # -- operations --------------------------------------------------------------------------
    def acquire(raw_id: Any) -> Any:
        return bucket_of(raw_id).entry.id

    def upload(raw_id: Any, raw_key: bytes, content: bytes | None, file: Any, opts: Any) -> Any:
        b, key = bucket_of(raw_id), check_key(raw_key)
        if content is None:
            content = read_rest(fs_module.file_of(engine, file), key)
        if len(content) > MAX_OBJECT_BYTES:
            raise _error(
                INVALID,
                f"upload_object: '{key}' is {len(content)} bytes; one upload sends at most "
                f"{MAX_OBJECT_BYTES} bytes (32 MB) here; nothing was written",
            )
        o = options(opts)
        request: dict[str, Any] = {"Bucket": b.bucket, "Key": key, "Body": content}
        for field, param in (
            ("content_type", "ContentType"),
            ("cache_control", "CacheControl"),
            ("content_disposition", "ContentDisposition"),
            ("content_encoding", "ContentEncoding"),
            ("if_match", "IfMatch"),
            ("if_none_match", "IfNoneMatch"),
        ):
            if o.get(field) is not None:
                request[param] = (
                    _scalar_text(o[field]) if not isinstance(o[field], str) else o[field]
                )
        if o.get("only_if_absent"):
            request["IfNoneMatch"] = "*"
        metadata = _text_map(o.get("metadata"), "metadata")
        if metadata:
            request["Metadata"] = metadata
        headers = _text_map(o.get("headers"), "headers")

        def run() -> Any:
            _extra.headers = headers
            try:
                return b.client.put_object(**request)
            finally:
                _extra.headers = {}

        return job("upload_object", run, lambda _: (True, None))

    def read_rest(f: fs_module.OpenFile, key: str) -> bytes:
        """What is left of ``f`` from its position, refused past the one-upload cap."""
        chunks, size = [], 0
        while chunk := f.read(_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_OBJECT_BYTES:
                raise _error(
                    INVALID,
                    f"upload_object: '{key}' from {f.path} is more than {MAX_OBJECT_BYTES} "
                    "bytes (32 MB), the most one upload sends here; nothing was written",
                )
        return b"".join(chunks)

    def download(raw_id: Any, raw_key: bytes, file: Any, opts: Any) -> Any:
        b, key, o = bucket_of(raw_id), check_key(raw_key), options(opts)
        f = fs_module.file_of(engine, file)
        if f.mode == "r":
            raise _error(
                INVALID, f"download_object: the file {f.path} is open for reading; open it with 'w'"
            )
        request: dict[str, Any] = {"Bucket": b.bucket, "Key": key}
        for name, param in (("range", "Range"), ("if_match", "IfMatch")):
            if o.get(name) is not None:
                request[param] = str(o[name])
        if o.get("if_none_match") is not None:
            request["IfNoneMatch"] = str(o["if_none_match"])

        def run() -> None:
            body = b.client.get_object(**request)["Body"]
            try:
                while chunk := body.read(_CHUNK):
                    view = memoryview(chunk)
                    while view:
                        try:
                            view = view[os.write(f.fd, view) :]
                        except OSError as exc:
                            raise _error(
                                INTERNAL,
                                f"download_object: writing '{key}' to {f.path}: "
                                f"{exc.strerror or exc}",
                            ) from None
            finally:
                body.close()

        return job("download_object", run, lambda _: (True, None))

    def head(raw_id: Any, raw_key: bytes) -> Any:
        b, key = bucket_of(raw_id), check_key(raw_key)

        def run() -> Any:
            return b.client.head_object(Bucket=b.bucket, Key=key)

        def finish(r: dict[str, Any]) -> tuple[Any, ...]:
            modified = r.get("LastModified")
            value = {
                "size": int(r.get("ContentLength", 0)),
                "etag": r.get("ETag", ""),
                "content_type": r.get("ContentType", ""),
                "cache_control": r.get("CacheControl", ""),
                "content_disposition": r.get("ContentDisposition", ""),
                "content_encoding": r.get("ContentEncoding", ""),
                "storage_class": r.get("StorageClass", ""),
                "version_id": r.get("VersionId", ""),
                "last_modified": int(modified.timestamp()) if modified else 0,
                "metadata": dict(r.get("Metadata") or {}),
                "headers": dict(r.get("ResponseMetadata", {}).get("HTTPHeaders") or {}),
            }
            return codec.to_lua(value, "head"), None

        return job("head_object", run, finish)

    def list_(raw_id: Any, opts: Any) -> Any:
        b, o = bucket_of(raw_id), options(opts)
        prefix = o.get("prefix") or ""
        token = o.get("continuation_token") or ""
        max_keys = o.get("max_keys") or 0
        if not isinstance(prefix, str) or not isinstance(token, str):
            raise _error(INVALID, "list_objects: prefix and continuation_token must be strings")
        if not isinstance(max_keys, int | float) or isinstance(max_keys, bool) or max_keys < 0:
            raise _error(INVALID, "list_objects: max_keys must be a non-negative integer")
        versions = bool(o.get("include_versions"))
        request: dict[str, Any] = {"Bucket": b.bucket}
        if prefix:
            request["Prefix"] = prefix
        if max_keys:
            request["MaxKeys"] = int(max_keys)
        if versions:
            if token:
                request["KeyMarker"] = token
        else:
            if token:
                request["ContinuationToken"] = token
            if o.get("include_owner"):
                request["FetchOwner"] = True

        def run() -> Any:
            if versions:
                return b.client.list_object_versions(**request)
            return b.client.list_objects_v2(**request)

        def obj(item: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {
                "key": item.get("Key", ""),
                "size": int(item.get("Size", 0)),
                "etag": item.get("ETag", ""),
                "storage_class": item.get("StorageClass", ""),
                "content_type": "",
            }
            if item.get("LastModified") is not None:
                out["last_modified"] = int(item["LastModified"].timestamp())
            if item.get("VersionId"):
                out["version_id"] = item["VersionId"]
            owner = item.get("Owner")
            if owner and (o.get("include_owner") or versions):
                out["owner"] = {
                    "id": owner.get("ID", ""),
                    "display_name": owner.get("DisplayName", ""),
                }
            return out

        def finish(r: dict[str, Any]) -> tuple[Any, ...]:
            items = r.get("Versions" if versions else "Contents") or []
            value = {
                "objects": [obj(i) for i in items],
                "is_truncated": bool(r.get("IsTruncated")),
                "next_continuation_token": (
                    r.get("NextKeyMarker") if versions else r.get("NextContinuationToken")
                )
                or "",
            }
            result = codec.to_lua(value, "list")
            return result, None

        return job("list_objects", run, finish)

    def delete(raw_id: Any, raw_keys: Any) -> Any:
        b = bucket_of(raw_id)
        try:
            keys = codec.to_python(raw_keys, "keys")
        except CodecError as exc:
            raise _error(INVALID, f"delete_objects: {exc.message}") from None
        if keys == {}:
            keys = []
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise _error(INVALID, "delete_objects: keys must be a list of strings")
        checked = [check_key(k.encode(), f"keys[{i}]") for i, k in enumerate(keys, 1)]

        def run() -> list[str]:
            errors: list[str] = []
            for i in range(0, len(checked), _DELETE_BATCH):
                batch = checked[i : i + _DELETE_BATCH]
                answer = b.client.delete_objects(
                    Bucket=b.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
                errors += [f"{e.get('Key')}: {e.get('Code')}" for e in answer.get("Errors", [])]
            return errors

        def finish(errors: list[str]) -> tuple[Any, ...]:
            if errors:
                err = _error(INTERNAL, "delete_objects: not deleted: " + ", ".join(errors[:10]))
                return None, state.error_value(err)
            return True, None

        return job("delete_objects", run, finish)

    def expiration(o: dict[str, Any], method: str) -> int:
        value = o.get("expiration", DEFAULT_EXPIRATION) or DEFAULT_EXPIRATION
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _error(INVALID, f"{method}: expiration must be a number of seconds")
        if not 1 <= value <= MAX_EXPIRATION:
            raise _error(
                INVALID, f"{method}: expiration must be between 1 and {MAX_EXPIRATION} seconds"
            )
        return int(value)

    def presign_get(raw_id: Any, raw_key: bytes, opts: Any) -> Any:
        b, key = bucket_of(raw_id), check_key(raw_key)
        seconds = expiration(options(opts), "presigned_get_url")
        url = b.client.generate_presigned_url(
            "get_object", Params={"Bucket": b.bucket, "Key": key}, ExpiresIn=seconds
        )
        return url.encode(), None

    def presign_put(raw_id: Any, raw_key: bytes, opts: Any) -> Any:
        b, key, o = bucket_of(raw_id), check_key(raw_key), options(opts)
        seconds = expiration(o, "presigned_put_url")
        params: dict[str, Any] = {"Bucket": b.bucket, "Key": key}
        if o.get("content_type"):
            params["ContentType"] = str(o["content_type"])
        length = o.get("content_length")
        if length is not None:
            if not isinstance(length, int | float) or isinstance(length, bool) or length < 0:
                raise _error(INVALID, "presigned_put_url: content_length must be a byte count")
            if length > 0:
                params["ContentLength"] = int(length)
        url = b.client.generate_presigned_url("put_object", Params=params, ExpiresIn=seconds)
        return url.encode(), None

    host = state.table(
        acquire=fallible(acquire),
        upload=fallible(upload),
        head=fallible(head),
        list=fallible(list_),
        delete=fallible(delete),
        presign_get=fallible(presign_get),
        presign_put=fallible(presign_put),
        download=fallible(download),
    )
    fs_file_id = fs_module.core(engine).file_id
    return state.lua.execute(_LUA, host, state.kit, fs_file_id, name="=[kit]cloudstorage")
