"""Manifests: random ``_index.yaml`` text (valid-ish and broken) either loads, or fails with a
ManifestError whose every problem names the file (and, for an entry, the entry and field)."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from runtime import manifest
from runtime.errors import INVALID, ManifestError
from tests.fuzz.conftest import fuzz

KINDS = [
    "function.lua",
    "library.lua",
    "process.lua",
    "workflow.lua",
    "process.host",
    "workflow.host",
    "process.service",
    "http.endpoint",
    "http.service",
    "http.router",
    "temporal.client",
    "temporal.worker",
    "terminal.host",
    "function.wasm",
    "library.lua.bc",
    "db.sql.sqlite",
    "function.lu",
    "http.endpont",
    "",
    "FUNCTION.LUA",
]
FIELDS = [
    "source",
    "method",
    "modules",
    "imports",
    "env",
    "deploy",
    "retry",
    "timeout",
    "batch_size",
    "max_concurrency",
    "visibility_timeout",
    "max_receive_count",
    "lambda_timeout",
    "activity_batch_size",
    "activity_max_receive_count",
    "step_timeout",
    "process",
    "host",
    "args",
    "registry_name",
    "lifecycle",
    "children",
    "strategy",
    "intensity",
    "path",
    "func",
    "auth",
    "jwt",
    "sorce",
    "meta",
    "input",
    "addr",
    "router",
    "server",
    "temporal",
    "workflow",
    "worker",
    "prefix",
    "middleware",
    "options",
    "client",
    "task_queue",
    "worker_options",
    "address",
    "pool",
]
NAMES = ["f", "g", "lib", "worker", "host", "wf", "svc", "ep", "a.b", "bad name", "x:y", ""]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "file://f.lua",
            "file://missing.lua",
            "file://../f.lua",
            "http://x",
            "handler",
            "main",
            "app:f",
            "app:lib",
            "app:host",
            "app:wf",
            "app:nope",
            "nope",
            "GET",
            "post",
            "/hello/{name}",
            "/a/{rest...}",
            "/{x}/{x}",
            "bad path",
            "250ms",
            "1h30m",
            "-1s",
            "10",
            "iam",
            "none",
            "jwt",
            "one_for_one",
            "funcs",
            "time",
            "process",
            "nosuch",
            "sql",
            "channel",
            ":8080",
            "/api",
            "cors",
            "app:gw",
            "app:api",
            "https://issuer.example",
            "",
            " ",
            "\u00e9",
            "\x00",
            "{",
            "]",
        ]
    ),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=5)), inner, max_size=3),
    ),
    max_leaves=6,
)


@st.composite
def entries(draw):
    entry = {}
    if draw(st.booleans()) or True:
        entry["name"] = draw(st.one_of(st.sampled_from(NAMES), SCALARS))
    if draw(st.integers(0, 9)):
        entry["kind"] = draw(st.one_of(st.sampled_from(KINDS), SCALARS))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=5, unique=True)):
        entry[name] = draw(VALUES)
    return entry


@st.composite
def documents(draw):
    doc = {}
    if draw(st.integers(0, 9)):
        doc["version"] = draw(st.one_of(st.just("1.0"), SCALARS))
    if draw(st.integers(0, 9)):
        doc["namespace"] = draw(st.one_of(st.sampled_from(["app", "app.sub", "1x", ""]), SCALARS))
    if draw(st.integers(0, 9)):
        doc["entries"] = draw(st.one_of(st.lists(entries(), max_size=6), VALUES))
    if not draw(st.integers(0, 5)):
        doc[draw(st.text(max_size=4))] = draw(VALUES)
    return doc


def _yaml(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


# Valid-ish documents dumped as YAML, then sometimes cut, spliced or replaced by raw text.
YAML_TEXT = st.one_of(
    documents().map(_yaml),
    st.tuples(documents().map(_yaml), st.integers(0, 400)).map(lambda t: t[0][: t[1]]),
    st.tuples(documents().map(_yaml), st.text(max_size=20)).map(lambda t: t[0] + t[1]),
    st.text(max_size=60),
    st.sampled_from(["", "---\n---\n", "[1, 2", "entries: !!python/object:os.system x", "\t-"]),
)

_COUNTER = itertools.count()
_ROOT = Path(tempfile.mkdtemp(prefix="units-fuzz-manifest-"))


def _load(
    text: str, sub_text: str | None
) -> tuple[Path, manifest.Registry | None, ManifestError | None]:
    folder = _ROOT / f"app{next(_COUNTER)}"
    folder.mkdir()
    try:
        (folder / "_index.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        (folder / "f.lua").write_text("return { handler = function() return 1 end }\n")
        if sub_text is not None:
            (folder / "sub").mkdir()
            (folder / "sub" / "_index.yaml").write_text(
                sub_text, encoding="utf-8", errors="surrogatepass"
            )
        try:
            return folder, manifest.load_app(folder), None
        except ManifestError as exc:
            return folder, None, exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)


VALID = """\
version: "1.0"
namespace: app
entries:
  - name: f
    kind: function.lua
    source: file://f.lua
"""


@fuzz(80)
@given(text=YAML_TEXT, sub=st.one_of(st.none(), YAML_TEXT))
@example(text=VALID, sub=None)
@example(text="version: '1.0'\nnamespace: app\nentries: {a: 1}\n", sub=None)
@example(text="version: '1.0'\nnamespace: app\nentries:\n  - name: f\n    kind: [1]\n", sub=None)
@example(
    text="version: '1.0'\nnamespace: app\nentries:\n  - {name: {a: 1}, kind: library.lua}\n",
    sub=None,
)
@example(text=VALID, sub=VALID)
def test_a_manifest_loads_or_names_every_problem(text, sub):
    folder, registry, error = _load(text, sub)
    if error is None:
        assert registry is not None
        for entry in registry:
            assert ":" in entry.id
        return
    assert error.kind == INVALID
    assert error.problems, "a ManifestError without problems"
    for problem in error.problems:
        assert isinstance(problem, str) and problem.strip()
        # Every problem says where: an index file (relative to the app) or the folder itself.
        assert problem.startswith(("_index.yaml", "sub/_index.yaml", str(folder))), problem
        if " entry " in problem and "field '" in problem:
            assert problem.index(" entry ") < problem.index("field '"), problem
