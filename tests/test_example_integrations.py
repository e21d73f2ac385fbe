"""examples/integrations: one HTTP handler written for Wippy that reaches every kind of outside
resource the kit provides (http_client, store, sql, cloudstorage, queue + its consumer, hash)
runs as it is in the harness and in `units dev` (its stack's resources are checked in
tests/test_infra.py::test_the_integrations_example_synthesizes_to_its_outside_resources)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from runtime.testing import REGION, LocalCloud
from tests.conftest import ROOT

APP = ROOT / "examples" / "integrations"
PRICES = {"ACME": 12.5, "INIT": 3.0}


class _Prices(BaseHTTPRequestHandler):
    """A stand-in for the external price API: a real HTTP server on localhost."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        symbol = self.path.rsplit("/", 1)[-1]
        if symbol not in PRICES:
            body, status = b'{"error": "unknown symbol"}', 404
        else:
            body, status = json.dumps({"price": PRICES[symbol]}).encode(), 200
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def price_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prices)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def app_env():
    with price_api() as url:
        # The deployment's override of the entry's env block, and the local server allowed
        # (private addresses are refused by default, as Wippy's policy does).
        yield {
            "UNITS_ENV_PRICE_API": url,
            "UNITS_ENV_SIGNING_KEY": "s3cret",
            "UNITS_HTTP_CLIENT_PRIVATE_IP": "127.0.0.1/32",
        }


def signed(body: bytes) -> str:
    return hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()


def test_a_quote_reaches_every_resource_and_the_consumer_records_it_once(app_env):
    with LocalCloud(APP, environ=app_env) as cloud:
        reply = cloud.http("POST", "/api/quotes", body={"symbol": "ACME"})
        assert reply.status == 200, reply.body
        assert reply.body == {"symbol": "ACME", "price": 12.5, "seen": 1}
        assert reply.headers["x-signature"] == signed(reply.raw)
        again = cloud.http("POST", "/api/quotes", body={"symbol": "ACME"})
        assert again.body["seen"] == 2  # the SQL table kept the first
        # The bucket (S3) holds it, as any other unit reads it.
        s3 = boto3.client("s3", region_name=REGION)
        bucket = cloud.resources.buckets["app:files"]
        stored = s3.get_object(Bucket=bucket, Key="quotes/ACME.json")
        assert json.loads(stored["Body"].read()) == {"symbol": "ACME", "price": 12.5}
        # The queue's consumer records each published quote once, by message id.
        cloud.drain()
        assert cloud.consumer_stats("app:record.consumer") == {
            "handled": 2,
            "acked": 2,
            "nacked": 0,
        }
        assert cloud.queue_dead_letters("app:quotes") == []
        # The store (DynamoDB): the cached quote and one record per published message.
        db = boto3.client("dynamodb", region_name=REGION)
        items = db.scan(TableName=cloud.resources.store_table)["Items"]
        keys = sorted(i["sk"]["S"] for i in items)
        assert keys[0] == "quote:ACME" or "quote:ACME" in keys
        recorded = [k for k in keys if k.startswith("recorded:")]
        assert len(recorded) == 2 and len(set(recorded)) == 2
        cloud.drain()  # nothing left to deliver: nothing recorded twice
        again_items = db.scan(TableName=cloud.resources.store_table)["Items"]
        assert len(again_items) == len(items)


def test_bad_requests_and_a_failing_price_api_are_clear_errors_that_store_nothing(app_env):
    with LocalCloud(APP, environ=app_env) as cloud:
        bad = cloud.http("POST", "/api/quotes", body={"name": "ACME"})
        assert (bad.status, bad.body) == (400, {"error": 'expected {"symbol": "..."}'})
        unknown = cloud.http("POST", "/api/quotes", body={"symbol": "NOPE"})
        assert (unknown.status, unknown.body) == (502, {"error": "price API answered 404"})
        s3 = boto3.client("s3", region_name=REGION)
        listed = s3.list_objects_v2(Bucket=cloud.resources.buckets["app:files"])
        assert listed.get("KeyCount", 0) == 0
        db = boto3.client("dynamodb", region_name=REGION)
        assert db.scan(TableName=cloud.resources.store_table)["Items"] == []


def test_the_price_api_refused_by_default_as_a_private_address(app_env):
    del app_env["UNITS_HTTP_CLIENT_PRIVATE_IP"]
    with LocalCloud(APP, environ=app_env) as cloud:
        reply = cloud.http("POST", "/api/quotes", body={"symbol": "ACME"})
        assert reply.status == 502
        assert "not allowed: private IP" in reply.body["error"]


def test_the_app_runs_the_same_in_units_dev(app_env, tmp_path, monkeypatch):
    import shutil

    from runtime.dev import DevStack
    from runtime.dev.logs import LogHub
    from tests.devapp import Client

    for name, value in app_env.items():  # units dev reads them from the shell
        monkeypatch.setenv(name, value)
    app = tmp_path / "integrations"
    shutil.copytree(APP, app)
    with DevStack(app, port=0, hub=LogHub()) as stack:
        client = Client(stack.url)
        status, body = client.json("POST", "/api/quotes", {"symbol": "INIT"})
        assert (status, body) == (200, {"symbol": "INIT", "price": 3.0, "seen": 1})
