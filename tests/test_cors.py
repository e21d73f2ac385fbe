"""Wippy's ``cors`` router middleware: the HTTP API's one CORS configuration.

Deployed, API Gateway applies it (tests/test_wippy_synth.py checks the synthesized
``CorsConfiguration``); here LocalCloud.http and `units dev` answer as API Gateway does with it:
preflights answered without a function call, the Access-Control headers added to the answers of
allowed origins. The load refuses what one API Gateway configuration cannot hold.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from runtime.cors import CorsPolicy
from runtime.dev import DevStack
from runtime.errors import ManifestError
from runtime.manifest import HttpRouterEntry, ManifestWarning, load_app
from runtime.testing import LocalCloud
from tests.conftest import MakeApp
from tests.devapp import Client

#: Counts its calls (a preflight must not reach it), answers with a header of its own and a
#: CORS header API Gateway drops.
ITEMS = """
local http = require("http")
local calls = 0
local function handler()
  calls = calls + 1
  local res = http.response()
  res:set_header("X-Request-Id", "r-" .. calls)
  res:set_header("Access-Control-Allow-Origin", "https://evil.example")
  res:write_json({ calls = calls, method = http.request():method() })
end
return { handler = handler }
"""
ORIGIN = "https://app.example.com"


def app_index(options: str, *more: str, middleware: str = "[cors, compress]") -> str:
    """A Wippy app: a server, a router ``api`` at /api with ``middleware`` and ``options``
    (YAML lines under ``options:``), endpoints on it, and ``more`` entries."""
    lines = textwrap.indent(textwrap.dedent(options).strip(), "      ") if options else ""
    entries = f"""
  - {{name: gw, kind: http.service, addr: ":8080", lifecycle: {{auto_start: true}}}}
  - name: api
    kind: http.router
    meta: {{server: gw}}
    prefix: /api
    auth: none
    middleware: {middleware}
    options:
{lines or "      {}"}
  - {{name: items, kind: function.lua, source: file://items.lua, modules: [http]}}
  - {{name: list, kind: http.endpoint, meta: {{router: api}}, method: GET, path: /items,
      func: items}}
  - {{name: create, kind: http.endpoint, meta: {{router: api}}, method: POST, path: /items,
      func: items}}
"""
    return 'version: "1.0"\nnamespace: app\nentries:\n' + entries + "".join(more)


CREDENTIALED = """
cors.allow.origins: "https://app.example.com, https://admin.example.com"
cors.allow.methods: GET,POST
cors.allow.headers: Content-Type,Authorization,X-Api-Key
cors.expose.headers: X-Request-Id
cors.allow.credentials: true
cors.max.age: 600
"""


@pytest.fixture
def cloud(make_app: MakeApp):
    app = make_app(app_index(CREDENTIALED), {"items.lua": ITEMS})
    with pytest.warns(ManifestWarning), LocalCloud(app) as running:
        yield running


def preflight(
    cloud: LocalCloud, path: str, origin: str = ORIGIN, method: str = "POST", headers: str = ""
):
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return cloud.http("OPTIONS", path, headers=asked)


def cors_headers(result) -> dict[str, str]:
    return {k: v for k, v in result.headers.items() if k.startswith("access-control-")}


# -- local: as API Gateway answers -----------------------------------------------------------


def test_a_preflight_is_answered_without_calling_the_function(cloud):
    answer = preflight(cloud, "/api/items", headers="content-type, x-api-key")
    assert (answer.status, answer.raw) == (204, b"")
    assert cors_headers(answer) == {
        "access-control-allow-origin": ORIGIN,
        "access-control-allow-methods": "GET,POST",
        "access-control-allow-headers": "Content-Type,Authorization,X-Api-Key",
        "access-control-max-age": "600",
        "access-control-allow-credentials": "true",
    }
    # The function ran for none of them: its first real call counts 1.
    assert cloud.http("GET", "/api/items").body["calls"] == 1


def test_an_allowed_origin_gets_the_headers_on_the_answer(cloud):
    answer = cloud.http("POST", "/api/items", body={}, headers={"Origin": ORIGIN})
    assert answer.status == 200 and answer.body == {"calls": 1, "method": "POST"}
    # The function's own Access-Control-Allow-Origin is dropped, as API Gateway drops it.
    assert cors_headers(answer) == {
        "access-control-allow-origin": ORIGIN,
        "access-control-expose-headers": "X-Request-Id",
        "access-control-allow-credentials": "true",
    }
    assert answer.headers["x-request-id"] == "r-1"


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [
        pytest.param("https://evil.example", "POST", "", id="origin"),
        pytest.param("https://app.example.com.evil", "POST", "", id="origin-suffix"),
        pytest.param(ORIGIN, "DELETE", "", id="method"),
        pytest.param(ORIGIN, "POST", "content-type, x-other", id="header"),
    ],
)
def test_a_preflight_that_is_not_allowed_gets_no_cors_headers(cloud, origin, method, headers):
    answer = preflight(cloud, "/api/items", origin=origin, method=method, headers=headers)
    assert (answer.status, cors_headers(answer)) == (204, {})


def test_other_origins_and_requests_without_one_get_no_cors_headers(cloud):
    other = cloud.http("GET", "/api/items", headers={"Origin": "https://evil.example"})
    plain = cloud.http("GET", "/api/items")
    for answer in (other, plain):
        assert answer.status == 200 and cors_headers(answer) == {}


def test_the_configuration_covers_the_whole_api(cloud):
    # API Gateway answers preflights on every path, routes or not, and its own 404 gets the
    # headers like any answer.
    assert cors_headers(preflight(cloud, "/nowhere"))["access-control-allow-origin"] == ORIGIN
    missing = cloud.http("GET", "/nowhere", headers={"Origin": ORIGIN})
    assert missing.status == 404
    assert cors_headers(missing)["access-control-allow-origin"] == ORIGIN


def test_an_options_request_that_is_no_preflight_is_routed(cloud):
    # No Access-Control-Request-Method: an ordinary OPTIONS, which no endpoint takes here.
    answer = cloud.http("OPTIONS", "/api/items", headers={"Origin": ORIGIN})
    assert answer.status == 405 and answer.headers["allow"] == "GET, POST"
    assert cors_headers(answer)["access-control-allow-origin"] == ORIGIN


def test_an_options_endpoint_takes_the_preflights_of_its_path(make_app: MakeApp):
    own = (
        "  - {name: opts, kind: http.endpoint, meta: {router: api}, method: OPTIONS,"
        " path: /items, func: items}\n"
    )
    app = make_app(app_index(CREDENTIALED, own), {"items.lua": ITEMS})
    with pytest.warns(ManifestWarning), LocalCloud(app) as cloud:
        answer = preflight(cloud, "/api/items")
        # The route matches, so the function answers; API Gateway adds the answer's headers.
        assert answer.status == 200 and answer.body == {"calls": 1, "method": "OPTIONS"}
        assert cors_headers(answer) == {
            "access-control-allow-origin": ORIGIN,
            "access-control-expose-headers": "X-Request-Id",
            "access-control-allow-credentials": "true",
        }


def test_every_origin_is_answered_with_a_star(make_app: MakeApp):
    app = make_app(app_index('cors.allow.origins: "*"'), {"items.lua": ITEMS})
    with pytest.warns(ManifestWarning), LocalCloud(app) as cloud:
        answer = preflight(cloud, "/api/items", origin="https://anyone.example")
        # Wippy's defaults for the rest: its methods, headers and a day of caching.
        assert cors_headers(answer) == {
            "access-control-allow-origin": "*",
            "access-control-allow-methods": "GET,POST,PUT,DELETE,OPTIONS,PATCH",
            "access-control-allow-headers": (
                "Origin,Content-Type,Accept,Authorization,X-Requested-With"
            ),
            "access-control-max-age": "86400",
        }
        get = cloud.http("GET", "/api/items", headers={"Origin": "https://anyone.example"})
        assert cors_headers(get) == {"access-control-allow-origin": "*"}


def test_without_cors_the_function_answers_as_it_wrote(make_app: MakeApp):
    app = make_app(app_index("", middleware="[compress]"), {"items.lua": ITEMS})
    with pytest.warns(ManifestWarning), LocalCloud(app) as cloud:
        assert cloud.registry.cors is None
        answer = cloud.http("GET", "/api/items", headers={"Origin": ORIGIN})
        assert cors_headers(answer) == {"access-control-allow-origin": "https://evil.example"}
        assert preflight(cloud, "/api/items").status == 405  # no OPTIONS route, no gateway


def test_units_dev_answers_as_api_gateway_does(make_app: MakeApp):
    app = make_app(app_index(CREDENTIALED), {"items.lua": ITEMS})
    with DevStack(app, port=0) as stack:
        client = Client(stack.url)
        status, headers, body = client.request(
            "OPTIONS",
            "/api/items",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        )
        assert (status, body) == (204, b"")
        assert headers["access-control-allow-methods"] == "GET,POST"
        status, headers, body = client.request("GET", "/api/items", headers={"Origin": ORIGIN})
        assert (status, json.loads(body)["calls"]) == (200, 1)
        assert headers["access-control-allow-origin"] == ORIGIN
        assert headers["access-control-expose-headers"] == "X-Request-Id"


# -- loading ---------------------------------------------------------------------------------


def load(root: Path, index: str) -> list[str]:
    """The load's warning lines (it must succeed)."""
    (root / "items.lua").write_text(ITEMS)
    (root / "_index.yaml").write_text(index)
    return list(load_app(root).warnings)


def problems(root: Path, index: str) -> list[str]:
    (root / "items.lua").write_text(ITEMS)
    (root / "_index.yaml").write_text(index)
    with pytest.raises(ManifestError) as caught:
        load_app(root)
    return caught.value.problems


def test_the_routers_options_are_the_apis_configuration(tmp_path):
    (tmp_path / "items.lua").write_text(ITEMS)
    (tmp_path / "_index.yaml").write_text(app_index(CREDENTIALED))
    registry = load_app(tmp_path)
    expected = CorsPolicy(
        allow_origins=("https://app.example.com", "https://admin.example.com"),
        allow_methods=("GET", "POST"),
        allow_headers=("Content-Type", "Authorization", "X-Api-Key"),
        expose_headers=("X-Request-Id",),
        allow_credentials=True,
        max_age=600,
    )
    router = registry.get("app:api")
    assert isinstance(router, HttpRouterEntry) and router.cors == expected
    assert registry.cors == expected
    # cors is applied now: only compress is reported.
    lines = [line for line in registry.warnings if "field 'middleware'" in line]
    assert lines == [
        "_index.yaml: entry 'app:api' field 'middleware': 'compress' not applied: API Gateway "
        "HTTP APIs do not compress responses"
    ]


def test_wippys_legacy_option_names_are_read_too(tmp_path):
    load(tmp_path, app_index("allow_origins: https://a.example\nallow_methods: get"))
    registry = load_app(tmp_path)
    assert registry.cors is not None
    assert (registry.cors.allow_origins, registry.cors.allow_methods) == (
        ("https://a.example",),
        ("GET",),
    )


SECOND_ROUTER = """
  - name: admin
    kind: http.router
    meta: {{server: gw}}
    prefix: /admin
    auth: none
    middleware: {middleware}
    options: {options}
  - {{name: panel, kind: http.endpoint, meta: {{router: admin}}, method: GET, path: /panel,
      func: items}}
"""


def test_routers_asking_for_different_cors_are_refused(tmp_path):
    admin = SECOND_ROUTER.format(
        middleware="[cors]",
        options='{cors.allow.origins: "https://admin.example.com", cors.max.age: 60}',
    )
    (problem,) = problems(tmp_path, app_index('cors.allow.origins: "*"', admin))
    assert problem == (
        "_index.yaml: entry 'app:admin' field 'options': its cors settings differ from router "
        "'app:api' (_index.yaml) in cors.allow.origins, cors.max.age: the application's routes "
        "are one API Gateway HTTP API, which has one CORS configuration, so every router "
        "listing cors must give the same cors options"
    )


def test_routers_asking_for_the_same_cors_share_it(tmp_path):
    admin = SECOND_ROUTER.format(middleware="[cors]", options="{cors.allow.origins: '*'}")
    load(tmp_path, app_index("cors.allow.origins: '*'", admin))
    assert load_app(tmp_path).cors is not None


def test_a_router_without_cors_is_told_the_configuration_covers_it(tmp_path):
    admin = SECOND_ROUTER.format(middleware="[]", options="{cors.allow.origins: '*'}")
    lines = load(tmp_path, app_index("cors.allow.origins: '*'", admin))
    assert (
        "_index.yaml: entry 'app:admin' field 'middleware': no cors, but the API's one CORS "
        "configuration (router 'app:api') applies to its routes too, as API Gateway applies it "
        "to the whole API"
    ) in lines
    assert (
        "_index.yaml: entry 'app:admin' field 'options': cors.allow.origins: not applied: the "
        "router does not list cors in middleware"
    ) in lines


def test_what_api_gateway_cannot_send_is_reported(tmp_path):
    lines = load(tmp_path, app_index("cors.allow.private.network: 'true'"))
    assert (
        "_index.yaml: entry 'app:api' field 'options.cors.allow.private.network': not applied: "
        "API Gateway sends no Access-Control-Allow-Private-Network (its URL is on the public "
        "internet)"
    ) in lines


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        pytest.param(
            "cors.allow.origins: https://app.example.com/",
            "cors.allow.origins",
            "invalid origin 'https://app.example.com/' (expected scheme://host[:port], no path "
            "or trailing '/', like https://app.example.com)",
            id="trailing-slash",
        ),
        pytest.param(
            "cors.allow.origins: ' , '",
            "cors.allow.origins",
            "',' lists nothing (expected a comma-separated list)",
            id="empty-list",
        ),
        pytest.param(
            "cors.allow.methods: GET,TRACE",
            "cors.allow.methods",
            "invalid method 'TRACE' (expected any of: GET, HEAD, POST, PUT, PATCH, DELETE, "
            "OPTIONS, *)",
            id="method",
        ),
        pytest.param(
            "cors.allow.headers: 'Content-Type, X Bad'",
            "cors.allow.headers",
            "invalid header name 'X Bad'",
            id="header",
        ),
        pytest.param(
            "cors.allow.credentials: 'yes'",
            "cors.allow.credentials",
            "invalid value 'yes' (expected true or false)",
            id="credentials",
        ),
        pytest.param(
            "cors.max.age: 1h",
            "cors.max.age",
            "invalid value '1h' (expected a whole number of seconds)",
            id="max-age-unit",
        ),
        pytest.param(
            "cors.max.age: 90000",
            "cors.max.age",
            "must be between 0 and 86400 seconds (API Gateway's range), got 90000",
            id="max-age-range",
        ),
        pytest.param(
            "cors.allow.origin: '*'",
            "cors.allow.origin",
            "unknown cors option (did you mean 'cors.allow.origins'?)",
            id="typo",
        ),
        pytest.param(
            "cors.allow.credentials: true",
            "cors.allow.credentials",
            "true needs cors.allow.origins to list the origins: API Gateway does not allow "
            "credentials for every origin ('*'), where Wippy echoes any origin back",
            id="credentials-for-every-origin",
        ),
    ],
)
def test_bad_cors_options_name_the_option(tmp_path, options, field, message):
    (problem,) = problems(tmp_path, app_index(options))
    assert problem == f"_index.yaml: entry 'app:api' field 'options.{field}': {message}"


@pytest.mark.parametrize("origin", ["localhost", "*.example.com"])
def test_origins_api_gateway_cannot_take_are_left_out_with_a_note(tmp_path, origin):
    # Wippy accepts them, so its manifests must load: the rest of the list applies.
    lines = load(tmp_path, app_index(f"cors.allow.origins: '{origin}, https://app.example.com'"))
    assert (
        f"_index.yaml: entry 'app:api' field 'options.cors.allow.origins': origin '{origin}' not "
        "applied: API Gateway matches origins exactly (or every origin with '*'), so Wippy's "
        "any-port 'localhost' and wildcard subdomains cannot be given to it: list each origin, "
        "like http://localhost:3000"
    ) in lines
    assert load_app(tmp_path).cors.allow_origins == ("https://app.example.com",)


def test_cors_in_post_middleware_is_reported_not_applied(tmp_path):
    index = app_index("").replace(
        "    middleware: [cors, compress]\n", "    post_middleware: [cors]\n"
    )
    lines = load(tmp_path, index)
    assert (
        "_index.yaml: entry 'app:api' field 'post_middleware': 'cors' not applied: it answers "
        "preflights as pre-match middleware; list it in middleware"
    ) in lines
    assert load_app(tmp_path).cors is None
