"""``cloudstorage`` (Wippy's ``en/lua/storage/cloud.md``) on S3 in moto, through real entries:
upload with options, head, list (paging, versions), delete, presigned URLs, and the bad
inputs (unknown id, wrong kind, missing object, too large an object, bad keys, a failed
conditional write keeping the old object, workflow code)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest

from runtime.modules import cloudstorage_module
from runtime.resources import Resources, _new_s3, local_bucket_name
from runtime.testing import REGION, LocalCloud
from tests.conftest import write_app

INDEX = """
version: "1.0"
namespace: app
entries:
  - name: aws
    kind: config.aws
    region: ${env:AWS_REGION}
  - name: files
    kind: cloudstorage.s3
    config: aws
  - name: named
    kind: cloudstorage.s3
    bucket: my-existing-bucket
    config: aws
  - name: cache
    kind: store.memory
  - name: scratch
    kind: fs.directory
    directory: /var/scratch
  - name: run
    kind: function.lua
    source: file://run.lua
    method: handler
    modules: [cloudstorage, fs]
  - name: flows
    kind: workflow.host
  - name: wf
    kind: workflow.lua
    source: file://wf.lua
    modules: [cloudstorage]
"""

RUN = r"""
local cloudstorage = require("cloudstorage")
local function E(err)
  if err == nil then return nil end
  return { kind = err:kind(), message = err:message() }
end
local T = {}
function T.upload(id, key, content, opts)
  local s, err = cloudstorage.get(id)
  if err then return { err = E(err) } end
  local ok, e = s:upload_object(key, content, opts)
  return { ok = ok, err = E(e) }
end
function T.head(id, key)
  local s = cloudstorage.get(id)
  local m, e = s:head_object(key)
  return { meta = m, err = E(e) }
end
function T.list(id, opts)
  local s = cloudstorage.get(id)
  local r, e = s:list_objects(opts)
  return { result = r, err = E(e) }
end
function T.delete(id, keys)
  local s = cloudstorage.get(id)
  local ok, e = s:delete_objects(keys)
  return { ok = ok, err = E(e) }
end
function T.presign(id, key, put, opts)
  local s = cloudstorage.get(id)
  local url, e
  if put then url, e = s:presigned_put_url(key, opts) else url, e = s:presigned_get_url(key, opts) end
  return { url = url, err = E(e) }
end
function T.download(key, opts, mode)
  local s = cloudstorage.get("app:files")
  local vol = require("fs").get("app:scratch")
  local f = vol:open("/got.bin", mode or "w")
  local ok, e = s:download_object(key, f, opts)
  f:close()
  local body = vol:readfile("/got.bin")
  return { ok = ok, err = E(e), body = body }
end
function T.download_bad(writer)
  local s = cloudstorage.get("app:files")
  local ok, e = s:download_object("a.txt", writer)
  return { ok = ok, err = E(e) }
end
function T.upload_file(key, content)
  local vol = require("fs").get("app:scratch")
  vol:writefile("/up.bin", content)
  local f = vol:open("/up.bin", "r")
  f:seek("set", 2)
  local ok, e = cloudstorage.get("app:files"):upload_object(key, f)
  f:close()
  return { ok = ok, err = E(e) }
end
function T.released()
  local s = cloudstorage.get("app:files")
  s:release()
  local ok, e = s:upload_object("a", "b")
  return { ok = ok, err = E(e), str = tostring(s) }
end
return { handler = function(op, ...) return T[op](...) end }
"""

WF = r"""
local cloudstorage = require("cloudstorage")
return function()
  local s, err = cloudstorage.get("app:files")
  return { s = s == nil, kind = err:kind(), message = err:message() }
end
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    root = write_app(
        tmp_path_factory.mktemp("cloud") / "app", INDEX, {"run.lua": RUN, "wf.lua": WF}
    )
    with LocalCloud(root) as c:
        yield c


def run(cloud: LocalCloud, *args: Any) -> Any:
    return cloud.call("app:run", *args)


def s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def test_buckets_exist_per_entry_or_by_name(cloud: LocalCloud) -> None:
    names = {b["Name"] for b in s3().list_buckets()["Buckets"]}
    assert {local_bucket_name("app:files"), "my-existing-bucket"} <= names
    assert cloud.resources.buckets["app:named"] == "my-existing-bucket"


def test_upload_with_options_then_head(cloud: LocalCloud) -> None:
    opts = {
        "content_type": "application/json",
        "cache_control": "max-age=3600",
        "metadata": {"owner": "team-a", "run_id": 1234},
        "headers": {"x-amz-tagging": "team=a"},
    }
    assert run(cloud, "upload", "app:files", "reports/daily.json", '{"a":1}', opts) == {"ok": True}
    meta = run(cloud, "head", "app:files", "reports/daily.json")["meta"]
    assert meta["size"] == 7 and meta["content_type"] == "application/json"
    assert meta["cache_control"] == "max-age=3600"
    assert meta["metadata"] == {"owner": "team-a", "run_id": "1234"}
    assert meta["etag"].strip('"') and isinstance(meta["last_modified"], int)
    assert meta["headers"]["content-type"] == "application/json"
    body = s3().get_object(Bucket=local_bucket_name("app:files"), Key="reports/daily.json")
    assert body["Body"].read() == b'{"a":1}'
    tags = s3().get_object_tagging(Bucket=local_bucket_name("app:files"), Key="reports/daily.json")[
        "TagSet"
    ]
    assert tags == [{"Key": "team", "Value": "a"}]


def test_binary_content_round_trips(cloud: LocalCloud) -> None:
    data = bytes(range(256))
    assert run(cloud, "upload", "app:named", "bin/all.bytes", data)["ok"] is True
    got = s3().get_object(Bucket="my-existing-bucket", Key="bin/all.bytes")["Body"].read()
    assert got == data


def test_list_pages_and_delete(cloud: LocalCloud) -> None:
    for i in range(5):
        run(cloud, "upload", "app:files", f"logs/{i}.txt", "x" * i)
    first = run(cloud, "list", "app:files", {"prefix": "logs/", "max_keys": 3})["result"]
    assert [o["key"] for o in first["objects"]] == ["logs/0.txt", "logs/1.txt", "logs/2.txt"]
    assert first["is_truncated"] is True and first["next_continuation_token"]
    assert first["objects"][2]["size"] == 2 and first["objects"][2]["content_type"] == ""
    rest = run(
        cloud,
        "list",
        "app:files",
        {"prefix": "logs/", "continuation_token": first["next_continuation_token"]},
    )["result"]
    assert [o["key"] for o in rest["objects"]] == ["logs/3.txt", "logs/4.txt"]
    assert rest["is_truncated"] is False
    assert run(cloud, "delete", "app:files", ["logs/0.txt", "logs/1.txt", "logs/9.txt"]) == {
        "ok": True
    }
    left = run(cloud, "list", "app:files", {"prefix": "logs/"})["result"]["objects"]
    assert [o["key"] for o in left] == ["logs/2.txt", "logs/3.txt", "logs/4.txt"]
    assert run(cloud, "delete", "app:files", [])["ok"] is True


def test_presigned_urls(cloud: LocalCloud) -> None:
    url = run(cloud, "presign", "app:files", "reports/q.pdf", False, {"expiration": 600})["url"]
    query = parse_qs(urlparse(url).query)
    assert query["X-Amz-Expires"] == ["600"] and "reports/q.pdf" in url
    put = run(
        cloud,
        "presign",
        "app:files",
        "up/a.jpg",
        True,
        {"content_type": "image/jpeg", "content_length": 1024},
    )["url"]
    signed = parse_qs(urlparse(put).query)["X-Amz-SignedHeaders"][0]
    assert "content-type" in signed and "content-length" in signed
    default = run(cloud, "presign", "app:files", "k", False)["url"]
    assert parse_qs(urlparse(default).query)["X-Amz-Expires"] == ["3600"]
    bad = run(cloud, "presign", "app:files", "k", False, {"expiration": 10**9})["err"]
    assert bad["kind"] == "Invalid" and "expiration must be between 1 and 604800" in bad["message"]


def test_endpoint_override_is_path_style() -> None:
    client = _new_s3("eu-west-1", "http://localhost:9000")
    assert client.meta.endpoint_url == "http://localhost:9000"
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.s3["addressing_style"] == "path"
    assert Resources().s3_client("eu-west-1", None).meta.region_name == "eu-west-1"


# -- bad input ---------------------------------------------------------------------------------


def test_unknown_id_and_wrong_kind(cloud: LocalCloud) -> None:
    assert run(cloud, "upload", "app:nope", "k", "v")["err"] == {
        "kind": "NotFound",
        "message": "cloudstorage.get: no cloud storage entry 'app:nope'",
    }
    assert run(cloud, "upload", "app:cache", "k", "v")["err"] == {
        "kind": "Invalid",
        "message": "cloudstorage.get: 'app:cache' is a store.memory, not a cloud storage resource",
    }
    assert run(cloud, "upload", "app:aws", "k", "v")["err"]["kind"] == "Invalid"


def test_missing_object_is_not_found(cloud: LocalCloud) -> None:
    err = run(cloud, "head", "app:files", "no/such.txt")["err"]
    assert err == {"kind": "NotFound", "message": "head_object: object not found"}


def test_too_large_an_object_is_refused(cloud: LocalCloud) -> None:
    big = "x" * (cloudstorage_module.MAX_OBJECT_BYTES + 1)
    err = run(cloud, "upload", "app:files", "big.bin", big)["err"]
    assert err["kind"] == "Invalid" and "at most 33554432 bytes" in err["message"]
    assert "'big.bin'" in err["message"]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "key is required"),
        ("k" * 1025, "key is 1025 bytes; an S3 object key holds at most 1024"),
        ("a\nb", "has a control character (U+000A), refused"),
        (b"\xff", "key is not valid UTF-8 text"),
    ],
)
def test_invalid_keys(cloud: LocalCloud, key: Any, message: str) -> None:
    err = run(cloud, "upload", "app:files", key, "v")["err"]
    assert err["kind"] == "Invalid" and message in err["message"]
    err = run(cloud, "delete", "app:files", ["fine", key])["err"]
    assert err["kind"] == "Invalid"


def test_failed_conditional_write_keeps_the_old_object(cloud: LocalCloud) -> None:
    assert run(cloud, "upload", "app:files", "once.txt", "first", {"only_if_absent": True}) == {
        "ok": True
    }
    err = run(cloud, "upload", "app:files", "once.txt", "second", {"only_if_absent": True})["err"]
    assert err == {"kind": "Conflict", "message": "upload_object: precondition failed"}
    body = s3().get_object(Bucket=local_bucket_name("app:files"), Key="once.txt")["Body"].read()
    assert body == b"first"


def raw(value: Any) -> bytes:
    """A Lua string as the harness returns it (text when it is UTF-8, else bytes), as bytes."""
    return value.encode() if isinstance(value, str) else value


def test_download_object_into_an_fs_file(cloud: LocalCloud) -> None:
    blob = bytes(range(256)) * 5000  # over one copy piece: streamed in several
    assert run(cloud, "upload", "app:files", "dl.bin", blob)["ok"] is True
    r = run(cloud, "download", "dl.bin")
    assert r["ok"] is True and r.get("err") is None and raw(r["body"]) == blob
    r = run(cloud, "download", "dl.bin", {"range": "bytes=0-9"})
    assert raw(r["body"]) == blob[:10]
    etag = s3().head_object(Bucket=local_bucket_name("app:files"), Key="dl.bin")["ETag"]
    assert run(cloud, "download", "dl.bin", {"if_match": etag})["ok"] is True
    r = run(cloud, "download", "dl.bin", {"if_match": '"nope"'})
    assert r["err"] == {"kind": "Conflict", "message": "download_object: precondition failed"}
    assert raw(r["body"]) == b"", "nothing written on a failed precondition"
    r = run(cloud, "download", "dl.bin", {"if_none_match": etag})
    assert r["err"]["kind"] == "Conflict" and "precondition failed" in r["err"]["message"]


def test_download_object_bad_inputs(cloud: LocalCloud) -> None:
    r = run(cloud, "download", "missing.bin")
    assert r["err"] == {"kind": "NotFound", "message": "download_object: object not found"}
    assert run(cloud, "download_bad")["err"] == {
        "kind": "Invalid",
        "message": "writer is required (an fs.File opened for writing)",
    }
    assert run(cloud, "download_bad", "a string")["err"] == {
        "kind": "Invalid",
        "message": "writer must be an fs.File opened for writing, got string",
    }
    assert run(cloud, "upload", "app:files", "dl2.bin", "x")["ok"] is True
    r = run(cloud, "download", "dl2.bin", None, "r")
    assert r["err"] == {
        "kind": "Invalid",
        "message": "download_object: the file /got.bin is open for reading; open it with 'w'",
    }


def test_upload_object_from_an_fs_file(cloud: LocalCloud) -> None:
    assert run(cloud, "upload_file", "from-file.bin", b"\x00\x01rest of it")["ok"] is True
    body = s3().get_object(Bucket=local_bucket_name("app:files"), Key="from-file.bin")["Body"]
    assert body.read() == b"rest of it", "read from the file's position"


def test_released_storage(cloud: LocalCloud) -> None:
    r = run(cloud, "released")
    assert r["err"] == {"kind": "Invalid", "message": "storage has been released"}


def test_content_must_be_given(cloud: LocalCloud) -> None:
    assert run(cloud, "upload", "app:files", "k")["err"] == {
        "kind": "Invalid",
        "message": "content is required",
    }


def test_workflow_code_is_refused(cloud: LocalCloud) -> None:
    run_id = cloud.start_workflow("app:wf")
    cloud.run_workflows()
    result = cloud.result(run_id)
    assert result.status == "completed", result
    assert result.result["kind"] == "Invalid"
    assert "call a function (an activity)" in result.result["message"]
