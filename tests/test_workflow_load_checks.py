"""A workflow that requires a kit module its ``modules:`` does not list fails the load, naming
the file, the line and the module: at run time it would fail every step and park the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime import manifest
from runtime.errors import ManifestError
from tests.conftest import write_app

INDEX = """
version: "1.0"
namespace: app
entries:
  - name: flows
    kind: workflow.host
  - name: helpers
    kind: library.lua
    source: file://helpers.lua
  - name: w
    kind: workflow.lua
    source: file://w.lua
    modules: {modules}
    imports: {{helpers: app:helpers}}
"""

BODY = """
-- require("time") in a comment is not a require
local funcs = require("funcs")
local text = "require('uuid')"
local helpers = require "helpers"   -- an import alias
local errors = require("errors")    -- a global
local function main()
  local json = require('json')
  return funcs.call("app:f", json.encode({}))
end
return { main = main }
"""


def load(tmp_path: Path, modules: str) -> manifest.Registry:
    app = write_app(
        tmp_path / "app",
        INDEX.format(modules=modules),
        {"w.lua": BODY, "helpers.lua": "return {}"},
    )
    return manifest.load_app(app)


def test_an_unlisted_module_fails_the_load_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as exc:
        load(tmp_path, "[json]")
    assert exc.value.problems == [
        "_index.yaml: entry 'app:w' field 'modules': w.lua:2 requires 'funcs', which is not "
        "listed (add funcs to modules:; a workflow's step would fail on it and park the run)"
    ]
    with pytest.raises(ManifestError) as exc:
        load(tmp_path, "[funcs]")
    assert [p.split(": w.lua:")[1][:2] for p in exc.value.problems] == ["7 "]  # json, nested


def test_listed_modules_aliases_globals_comments_and_strings_load(tmp_path: Path) -> None:
    registry = load(tmp_path, "[funcs, json]")
    assert registry.get("app:w").modules == ("funcs", "json")
