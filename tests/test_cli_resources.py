"""``units resources``: examples/integrations' store keys, bucket objects and queue depths,
read through boto3 with the names of the stack's outputs, against the harness's moto resources
(LocalCloud.outputs(), as a deployed stack's outputs name them) and against ``units dev``."""

from __future__ import annotations

import json

import boto3
import pytest

from runtime.cli import main
from runtime.cli.common import when
from runtime.cli.connection import Connection
from runtime.targets import Target
from runtime.testing import REGION, LocalCloud
from tests.test_example_integrations import APP, app_env  # noqa: F401  (the fixture)


class Cli:
    """``units ...`` over a LocalCloud's outputs."""

    def __init__(self, cloud: LocalCloud, capsys) -> None:
        self.cloud, self.capsys = cloud, capsys
        target = Target(region=REGION, outputs=cloud.outputs())
        self.connection = Connection(target, clock=cloud.clock)

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        code = main(list(argv), connection=self.connection)
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *argv: str):
        code, out, err = self(*argv, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def cli(app_env, capsys):  # noqa: F811
    with LocalCloud(APP, environ=app_env) as cloud:
        yield Cli(cloud, capsys)


def quote(cli: Cli, *symbols: str) -> None:
    for symbol in symbols:
        reply = cli.cloud.http("POST", "/api/quotes", body={"symbol": symbol})
        assert reply.status == 200, reply.body


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def test_the_outputs_name_the_resources(cli):
    outputs = cli.cloud.outputs()
    assert json.loads(outputs["Stores"]) == {"app:cache": "m#app:cache"}
    assert outputs["StoreTableName"] == cli.cloud.resources.store_table
    assert json.loads(outputs["Buckets"]) == {"app:files": cli.cloud.resources.buckets["app:files"]}
    assert json.loads(outputs["Queues"]).keys() == {"app:quotes"}
    assert json.loads(outputs["QueueDeadLetterQueues"]).keys() == {"app:quotes"}


def test_an_empty_application_stack(cli):
    code, out, _ = cli("resources")
    assert code == 0
    assert rows(out) == [
        ["STORE", "KEY", "VERSION", "EXPIRES", "VALUE"],
        ["app:cache", "(no", "keys)", "-", "-", "-"],
        [],
        ["BUCKET", "OBJECT", "SIZE", "MODIFIED"],
        ["app:files", "(no", "objects)", "-", "-"],
        [],
        ["QUEUE", "QUEUED", "IN", "FLIGHT", "DELAYED", "DEAD", "LETTERS"],
        ["app:quotes", "0", "0", "0", "0"],
    ]


def test_keys_objects_and_depths_before_and_after_the_consumer(cli):
    quote(cli, "ACME", "INIT")
    code, out, _ = cli("resources")
    assert code == 0
    lines = rows(out)
    expires = when(cli.cloud.clock.now() + 300)  # the handler keeps a quote for 300 s
    assert ["app:cache", "quote:ACME", "1", expires, '{"price":12.5,"symbol":"ACME"}'] in lines
    assert ["app:cache", "quote:INIT", "1", expires, '{"price":3.0,"symbol":"INIT"}'] in lines
    objects = [line[:3] for line in lines if line and line[0] == "app:files"]
    assert [o[:2] for o in objects] == [
        ["app:files", "quotes/ACME.json"],
        ["app:files", "quotes/INIT.json"],
    ]
    assert ["app:quotes", "2", "0", "0", "0"] in lines  # published, not consumed yet
    # Columns line up under their headers.
    text = out.splitlines()
    queue_header = next(line for line in text if line.startswith("QUEUE"))
    queue_row = next(line for line in text if line.startswith("app:quotes"))
    assert queue_row[queue_header.index("QUEUED")] == "2"

    cli.cloud.drain()
    view = cli.json("resources")
    assert view["queues"] == [
        {"queue": "app:quotes", "queued": 0, "in_flight": 0, "delayed": 0, "dead_letters": 0}
    ]
    keys = [k["key"] for k in view["stores"][0]["keys"]]
    assert keys[:2] == ["quote:ACME", "quote:INIT"]
    assert sum(k.startswith("recorded:") for k in keys) == 2
    (bucket,) = view["buckets"]
    assert bucket["storage"] == "app:files"
    assert bucket["bucket"] == cli.cloud.resources.buckets["app:files"]
    assert [o["key"] for o in bucket["objects"]] == ["quotes/ACME.json", "quotes/INIT.json"]
    assert all(o["size"] > 0 and o["modified"] for o in bucket["objects"])


def test_prefix_limit_and_one_resource(cli):
    quote(cli, "ACME", "INIT")
    only = cli.json("resources", "app:cache", "--prefix", "quote:I")
    assert only["buckets"] == [] and only["queues"] == []
    (store,) = only["stores"]
    assert store["partition"] == "m#app:cache"
    assert [k["key"] for k in store["keys"]] == ["quote:INIT"]
    assert store["keys"][0]["value"] == {"symbol": "INIT", "price": 3}
    assert store["more"] is False

    first = cli.json("resources", "app:files", "--limit", "1")
    assert [o["key"] for o in first["buckets"][0]["objects"]] == ["quotes/ACME.json"]
    assert first["buckets"][0]["more"] is True
    code, out, _ = cli("resources", "app:cache", "--limit", "1")
    assert code == 0
    assert out.splitlines()[-1].split()[:2] == ["app:cache", "..."]
    assert "raise --limit" in out


def test_expired_keys_are_absent_and_dead_letters_are_counted(cli):
    db = boto3.client("dynamodb", region_name=REGION)
    table = cli.cloud.resources.store_table
    past = cli.cloud.clock.now() - 10
    future = cli.cloud.clock.now() + 3600
    for key, exp in (("gone", past), ("kept", future)):
        db.put_item(
            TableName=table,
            Item={
                "pk": {"S": "m#app:cache"},
                "sk": {"S": key},
                "val": {"S": '"x"'},
                "v": {"N": "1"},
                "exp": {"N": repr(exp)},
            },
        )
    (store,) = cli.json("resources", "app:cache")["stores"]
    assert [(k["key"], k["expires"]) for k in store["keys"]] == [("kept", future)]

    sqs = boto3.client("sqs", region_name=REGION)
    sqs.send_message(
        QueueUrl=cli.cloud.resources.dead_letter_queues["app:quotes"], MessageBody="{}"
    )
    (queue,) = cli.json("resources", "app:quotes")["queues"]
    assert queue["dead_letters"] == 1 and queue["queued"] == 0


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (
            ["resources", "app:nope"],
            1,
            "units resources: the local stack has no store, bucket or queue 'app:nope' "
            "(it has: app:cache, app:files, app:quotes)",
        ),
        (
            ["resources", "--limit", "0"],
            2,
            "units resources: --limit must be a whole number from 1 to 1000: '0'",
        ),
        (
            ["resources", "--limit", "ten"],
            2,
            "units resources: --limit must be a whole number from 1 to 1000: 'ten'",
        ),
        (
            ["resources", "--limit", "1001"],
            2,
            "units resources: --limit must be a whole number from 1 to 1000: '1001'",
        ),
    ],
)
def test_bad_resource_input(cli, argv, code, message):
    got, out, err = cli(*argv)
    assert (got, out) == (code, "")
    assert err.strip() == message


def test_a_stack_without_resources_says_so(capsys):
    from tests.conftest import EXAMPLES

    with LocalCloud(EXAMPLES / "hello") as cloud:
        cli = Cli(cloud, capsys)
        code, out, _ = cli("resources")
        assert code == 0
        assert out.strip() == "the local stack has no store, cloudstorage.s3 or queue.queue entries"
        assert cli.json("resources") == {"stores": [], "buckets": [], "queues": []}


def test_resources_of_units_dev(app_env, tmp_path, monkeypatch, capsys):  # noqa: F811
    import shutil

    from runtime.dev import DevStack
    from runtime.dev.logs import LogHub
    from tests.devapp import Client

    for name, value in app_env.items():
        monkeypatch.setenv(name, value)
    app = tmp_path / "integrations"
    shutil.copytree(APP, app)
    with DevStack(app, port=0, hub=LogHub()) as stack:
        status, _ = Client(stack.url).json("POST", "/api/quotes", {"symbol": "INIT"})
        assert status == 200
        code = main(["resources", "--dev", stack.url, "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        view = json.loads(out)
        keys = [k["key"] for k in view["stores"][0]["keys"]]
        assert "quote:INIT" in keys
        assert [o["key"] for o in view["buckets"][0]["objects"]] == ["quotes/INIT.json"]
        assert view["queues"][0]["queue"] == "app:quotes"
        code = main(["resources", "app:files", "--dev", stack.url])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert rows(out)[1][:2] == ["app:files", "quotes/INIT.json"]
