"""``fs`` (Wippy's ``en/lua/storage/filesystem.md``) over ``fs.directory`` entries on a real
folder: every volume and file method, the scanner's split modes, the mode bits, path safety
(``..``, absolute paths, symbolic links out), each bad input with its error text, files closed
when the invocation ends, and the refusal in workflow code."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime import manifest
from runtime.modules import fs_module
from runtime.testing import LocalCloud
from tests.conftest import write_app

INDEX = """
version: "1.0"
namespace: app
entries:
  - name: data
    kind: fs.directory
    directory: /var/data
    auto_init: true
  - name: same
    kind: fs.directory
    directory: /var/data/
  - name: readonly
    kind: fs.directory
    directory: /var/data
    mode: "0444"
  - name: rel
    kind: fs.directory
    directory: ../up/here
    base: module
  - name: run
    kind: function.lua
    source: file://run.lua
    method: handler
    modules: [fs]
  - name: flows
    kind: workflow.host
  - name: wf
    kind: workflow.lua
    source: file://wf.lua
    modules: [fs]
"""

RUN = r"""
local fs = require("fs")
local function E(err)
  if err == nil then return nil end
  return { kind = err:kind(), message = err:message() }
end
local T = {}
local function vol(id) return assert(fs.get(id or "app:data")) end
function T.call(id, method, ...)
  local v, err = fs.get(id)
  if v == nil then return { err = E(err) } end
  local a, b = v[method](v, ...)
  return { value = a, err = E(b) }
end
function T.tour()
  local v = vol()
  local out = {}
  out.write = v:writefile("/docs/../notes.txt", "one\n")
  out.append = v:write_file("notes.txt", "two\n", "a")
  out.read = v:read_file("/notes.txt")
  out.wx_ok = v:writefile("/lock", "1", "wx")
  local ok, e = v:writefile("/lock", "2", "wx")
  out.wx_again = { ok = ok, err = E(e) }
  out.mkdir = v:mkdir("/docs")
  out.exists = v:exists("/docs")
  out.isdir = v:isdir("docs")
  out.isdir_file = v:isdir("notes.txt")
  out.missing = v:exists("/nope")
  local st = v:stat("notes.txt")
  out.stat = { name = st.name, size = st.size, type = st.type, is_dir = st.is_dir,
    mode = st.mode, modified = math.type(st.modified) }
  local dst = v:stat("/docs")
  out.dir_stat = { type = dst.type, is_dir = dst.is_dir, mode = dst.mode }
  out.chdir = v:chdir("docs")
  out.pwd = v:pwd()
  v:writefile("inner.txt", "in docs")
  out.inner = v:readfile("/docs/inner.txt")
  out.up = v:readfile("../notes.txt")
  out.chdir_root = v:chdir("/")
  out.pwd_root = v:pwd()
  local names = {}
  for entry in v:readdir("/") do names[#names + 1] = entry.name .. "=" .. entry.type end
  out.list = names
  out.remove = v:remove("/docs/inner.txt")
  out.remove_dir = v:remove("docs")
  out.gone = v:exists("docs")
  out.tostring = tostring(v)
  out.types = { fs.type.FILE, fs.type.DIR, fs.seek.SET, fs.seek.CUR, fs.seek.END }
  return out
end
function T.file()
  local v = vol()
  local out = {}
  local f = assert(v:open("/f.bin", "w"))
  out.w1 = f:write("hello ")
  out.w2 = f:write("world")
  out.sync = f:sync()
  out.size = f:stat().size
  out.name = f:stat().name
  out.close = f:close()
  out.close_again = f:close()
  out.closed_str = tostring(f)
  local r = assert(v:open("/f.bin", "r"))
  out.open_str = tostring(r)
  out.r1 = r:read(5)
  out.pos = r:seek("cur", 0)
  out.r2 = r:read()
  local eof, e = r:read()
  out.eof = { value = eof, err = E(e) }
  out.seek_end = r:seek(fs.seek.END, -5)
  out.tail = r:read(100)
  out.seek_set = r:seek("set", 0)
  out.again = r:read(3)
  r:close()
  local a = assert(v:open("/f.bin", "a"))
  a:write("!")
  a:close()
  out.appended = v:readfile("/f.bin")
  local ok, e2 = v:open("/f.bin", "wx")
  out.wx = { ok = ok, err = E(e2) }
  local ro = v:open("/f.bin", "r")
  local wok, we = ro:write("x")
  out.write_ro = { ok = wok, err = E(we) }
  ro:close()
  return out
end
function T.scan(content, split)
  local v = vol()
  v:writefile("/s.txt", content)
  local f = v:open("/s.txt", "r")
  local s, err = f:scanner(split)
  if s == nil then f:close(); return { err = E(err) } end
  local tokens = {}
  while s:scan() do tokens[#tokens + 1] = s:text() end
  local serr = s:err()
  f:close()
  return { tokens = tokens, err = serr and E(serr) }
end
function T.scan_header()
  local v = vol()
  v:writefile("/users.csv", "name,age\nann,3\nbob,4")
  local f = v:open("/users.csv", "r")
  local s = f:scanner("lines")
  s:scan()
  local rows = {}
  while s:scan() do rows[#rows + 1] = s:text() end
  f:close()
  local closed, e = f:scanner()
  return { rows = rows, closed = { v = closed, err = E(e) } }
end
function T.closed_file()
  local v = vol()
  local f = v:open("/c.txt", "w")
  f:close()
  local out = {}
  for _, m in ipairs({ "read", "write", "stat", "sync" }) do
    local a, e = f[m](f, m == "write" and "x" or nil)
    out[m] = { value = a, err = E(e) }
  end
  local a, e = f:seek("set", 0)
  out.seek = { value = a, err = E(e) }
  return out
end
function T.bad_file_args()
  local v = vol()
  v:writefile("/b.txt", "abc")
  local f = v:open("/b.txt", "r")
  local out = {}
  local a, e = f:read(0)
  out.size0 = { value = a, err = E(e) }
  a, e = f:seek("middle", 0)
  out.whence = { value = a, err = E(e) }
  f:close()
  local w = v:open("/b.txt", "a")
  a, e = w:write("")
  out.empty = { value = a, err = E(e) }
  a, e = w:scanner("sentences")
  out.split = { value = a, err = E(e) }
  w:close()
  return out
end
function T.writefile_from_file()
  local v = vol()
  v:writefile("/src.txt", "0123456789")
  local f = v:open("/src.txt", "r")
  f:seek("set", 4)
  local ok = v:writefile("/dst.txt", f)
  f:close()
  local bad, e = v:writefile("/dst.txt", 42)
  local none, e2 = v:writefile("/dst.txt", nil)
  return { ok = ok, dst = v:readfile("/dst.txt"), bad = E(e), none = E(e2), bv = bad, nv = none }
end
function T.leak()
  local f = vol():open("/leak.txt", "w")
  f:write("kept")
  LEAKED = f
  return true
end
function T.after_leak()
  local a, e = LEAKED:write("more")
  return { value = a, err = E(e), str = tostring(LEAKED) }
end
function T.iter_error()
  local it, err = vol():readdir("/nope")
  return { it = it == nil, err = E(err) }
end
return { handler = function(op, ...) return T[op](...) end }
"""

WF = r"""
local fs = require("fs")
return function()
  local v, err = fs.get("app:data")
  return { v = v == nil, kind = err:kind(), message = err:message() }
end
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    root = write_app(tmp_path_factory.mktemp("fs") / "app", INDEX, {"run.lua": RUN, "wf.lua": WF})
    with LocalCloud(root) as c:
        yield c


def run(cloud: LocalCloud, *args: Any) -> Any:
    return cloud.call("app:run", *args)


def call(cloud: LocalCloud, method: str, *args: Any, vol: str = "app:data") -> Any:
    return run(cloud, "call", vol, method, *args)


def data_dir(cloud: LocalCloud) -> Path:
    return Path(cloud.resources.fs_root or "") / "abs" / "var" / "data"


def test_volume_methods_round_trip(cloud: LocalCloud) -> None:
    out = run(cloud, "tour")
    assert out["write"] is True and out["append"] is True
    assert out["read"] == "one\ntwo\n"
    assert out["wx_ok"] is True
    assert out["wx_again"] == {
        "ok": False,
        "err": {"kind": "AlreadyExists", "message": "writefile '/lock': path already exists"},
    }
    assert out["mkdir"] and out["exists"] and out["isdir"] and out["isdir_file"] is False
    assert out["missing"] is False
    assert out["stat"] == {
        "name": "notes.txt",
        "size": 8,
        "type": "file",
        "is_dir": False,
        "mode": 0o644,
        "modified": "integer",
    }
    assert out["dir_stat"] == {"type": "directory", "is_dir": True, "mode": (1 << 31) | 0o755}
    assert out["chdir"] is True and out["pwd"] == "/docs"
    assert out["inner"] == "in docs" and out["up"] == "one\ntwo\n"
    assert out["chdir_root"] is True and out["pwd_root"] == "/"
    assert out["list"] == ["docs=directory", "lock=file", "notes.txt=file"]
    assert out["remove"] and out["remove_dir"] and out["gone"] is False
    assert out["tostring"] == "fs.FS{cwd=.}"
    assert out["types"] == ["file", "directory", "set", "cur", "end"]
    # A real folder under the cloud's volumes root, named by the entry's directory.
    assert (data_dir(cloud) / "notes.txt").read_bytes() == b"one\ntwo\n"


def test_file_handle_methods(cloud: LocalCloud) -> None:
    out = run(cloud, "file")
    assert out["w1"] and out["w2"] and out["sync"] and out["close"] and out["close_again"]
    assert out["size"] == 11 and out["name"] == "f.bin"
    assert out["closed_str"] == "fs.File{closed}" and out["open_str"] == "fs.File{}"
    assert out["r1"] == "hello" and out["pos"] == 5 and out["r2"] == " world"
    assert out["eof"] == {"err": {"kind": "NotFound", "message": "EOF"}}
    assert out["seek_end"] == 6 and out["tail"] == "world"
    assert out["seek_set"] == 0 and out["again"] == "hel"
    assert out["appended"] == "hello world!"
    assert out["wx"] == {
        "err": {"kind": "AlreadyExists", "message": "open '/f.bin': path already exists"}
    }
    assert out["write_ro"]["ok"] is False and out["write_ro"]["err"]["kind"] == "Internal"
    assert "not open for that" in out["write_ro"]["err"]["message"]


@pytest.mark.parametrize(
    ("content", "split", "tokens"),
    [
        ("a\r\nb\n\nc", None, ["a", "b", "", "c"]),
        ("a\nb\n", "lines", ["a", "b"]),
        ("  one two\tthree\n four  ", "words", ["one", "two", "three", "four"]),
        ("ab", "bytes", ["a", "b"]),
        ("añ€", "runes", ["a", "ñ", "€"]),
        ("", "lines", []),
    ],
)
def test_scanner_split_modes(cloud: LocalCloud, content: str, split: Any, tokens: list) -> None:
    out = run(cloud, "scan", content, split)
    assert (out.get("tokens") or []) == tokens  # an empty list comes back as {}
    assert out.get("err") is None


def test_scanner_skips_a_header_and_refuses_a_closed_file(cloud: LocalCloud) -> None:
    out = run(cloud, "scan_header")
    assert out["rows"] == ["ann,3", "bob,4"]
    assert out["closed"] == {"err": {"kind": "Invalid", "message": "file is closed"}}


def test_scanner_token_too_long(cloud: LocalCloud) -> None:
    out = run(cloud, "scan", "x" * (fs_module.MAX_TOKEN + 10), "lines")
    assert out["err"] == {"kind": "Internal", "message": "scanner: bufio.Scanner: token too long"}


def test_closed_file_is_invalid(cloud: LocalCloud) -> None:
    out = run(cloud, "closed_file")
    closed = {"kind": "Invalid", "message": "file already closed"}
    assert out["read"] == {"err": closed}
    assert out["write"] == {"value": False, "err": closed}
    assert out["stat"] == {"err": closed}
    assert out["sync"] == {"value": False, "err": closed}
    assert out["seek"] == {"err": closed}


def test_bad_file_arguments(cloud: LocalCloud) -> None:
    out = run(cloud, "bad_file_args")
    assert out["size0"] == {"err": {"kind": "Invalid", "message": "size must be positive"}}
    assert out["whence"] == {
        "err": {"kind": "Invalid", "message": "invalid whence: must be 'set', 'cur', or 'end'"}
    }
    assert out["empty"] == {"value": False, "err": {"kind": "Invalid", "message": "data required"}}
    assert out["split"] == {
        "err": {
            "kind": "Invalid",
            "message": "invalid split type: must be 'lines', 'words', 'bytes', or 'runes'",
        }
    }


def test_writefile_from_a_file_and_bad_data(cloud: LocalCloud) -> None:
    out = run(cloud, "writefile_from_file")
    assert out["ok"] is True and out["dst"] == "456789"
    assert out["bad"] == {
        "kind": "Invalid",
        "message": "invalid input type, expected string or Reader (an fs.File), got number",
    }
    assert out["none"] == {"kind": "Invalid", "message": "data argument required"}
    assert out["bv"] is False and out["nv"] is False


@pytest.mark.parametrize(
    ("method", "args", "first", "err"),
    [
        ("readfile", [""], None, ("Invalid", "path required")),
        ("stat", [""], None, ("Invalid", "path required")),
        ("mkdir", [""], False, ("Invalid", "path required")),
        ("remove", [""], False, ("Invalid", "path required")),
        ("readdir", [""], None, ("Invalid", "path required")),
        ("chdir", [""], False, ("Invalid", "path required")),
        ("open", ["", "r"], None, ("Invalid", "path required")),
        ("writefile", ["", "x"], False, ("Invalid", "path required")),
        ("open", ["/x", "rw"], None, ("Invalid", "invalid mode: must be 'r', 'w', 'wx' or 'a'")),
        ("writefile", ["/x", "d", "r"], False, ("Invalid", "invalid mode; must be 'w', 'wx' or 'a'")),
        ("readfile", ["/nope.txt"], None, ("NotFound", "readfile '/nope.txt': no such file or directory")),
        ("stat", ["/nope"], None, ("NotFound", "stat '/nope': no such file or directory")),
        ("isdir", ["/nope"], False, ("NotFound", "isdir '/nope': no such file or directory")),
        ("open", ["/nope", "r"], None, ("NotFound", "open '/nope': no such file or directory")),
        ("remove", ["/nope"], False, ("NotFound", "remove '/nope': no such file or directory")),
        ("chdir", ["/nope"], False, ("NotFound", "chdir '/nope': no such file or directory")),
        ("mkdir", ["/a/b/c"], False, ("NotFound", "mkdir '/a/b/c': the parent directory does not exist")),
        ("writefile", ["/no/dir/x", "d"], False, ("NotFound", "writefile '/no/dir/x': no such file or directory")),
        ("remove", ["/"], False, ("Invalid", "remove '/': the volume's root cannot be removed")),
        ("readfile", ["/"], None, ("Invalid", "readfile '/': is a directory")),
        ("open", ["/", "w"], None, ("Invalid", "open '/': is a directory")),
        ("readfile", ["a\0b"], None, ("Invalid", "path contains null byte")),
        ("exists", ["a\0b"], False, ("Invalid", "path contains null byte")),
    ],
)  # fmt: skip
def test_bad_paths_and_modes(
    cloud: LocalCloud, method: str, args: list, first: Any, err: tuple[str, str]
) -> None:
    out = call(cloud, method, *args)
    assert out.get("value") == first
    assert out["err"] == {"kind": err[0], "message": err[1]}


def test_mkdir_existing_and_remove_non_empty(cloud: LocalCloud) -> None:
    assert call(cloud, "mkdir", "/full")["value"] is True
    assert call(cloud, "writefile", "/full/x", "1")["value"] is True
    assert call(cloud, "mkdir", "/full")["err"] == {
        "kind": "AlreadyExists",
        "message": "path already exists: /full",
    }
    assert call(cloud, "remove", "/full")["err"] == {
        "kind": "Invalid",
        "message": "directory not empty: /full",
    }
    assert call(cloud, "chdir", "/full/x")["err"] == {
        "kind": "Invalid",
        "message": "not a directory: /full/x",
    }
    assert call(cloud, "readdir", "/full/x")["err"] == {
        "kind": "Invalid",
        "message": "not a directory: /full/x",
    }
    assert run(cloud, "iter_error") == {
        "it": True,
        "err": {"kind": "NotFound", "message": "readdir '/nope': no such file or directory"},
    }


@pytest.mark.parametrize("path", ["..", "../x", "/../../etc/passwd", "a/../../b", "docs/../../.."])
def test_dot_dot_cannot_leave_the_volume(cloud: LocalCloud, path: str) -> None:
    out = call(cloud, "readfile", path)
    assert out["err"] == {
        "kind": "Invalid",
        "message": f"path traversal not allowed: '{path}' leaves the volume",
    }
    assert call(cloud, "writefile", path, "x")["err"]["kind"] == "Invalid"


def test_absolute_paths_are_the_volume_root(cloud: LocalCloud) -> None:
    # "/etc/passwd" is the volume's etc/passwd, never the machine's.
    assert call(cloud, "exists", "/etc/passwd")["value"] is False
    assert call(cloud, "readfile", "/etc/passwd")["err"]["kind"] == "NotFound"
    assert call(cloud, "writefile", "//top.txt", "t")["value"] is True
    assert (data_dir(cloud) / "top.txt").read_text() == "t"


def test_symbolic_links_out_of_the_volume_are_refused(cloud: LocalCloud, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, data_dir(cloud) / "link.txt")
    os.symlink(tmp_path, data_dir(cloud) / "linkdir")
    os.symlink(tmp_path / "new.txt", data_dir(cloud) / "dangling")
    try:
        for method, args in (
            ("readfile", ["/link.txt"]),
            ("writefile", ["/link.txt", "x"]),
            ("open", ["/link.txt", "r"]),
            ("readdir", ["/linkdir"]),
            ("writefile", ["/linkdir/new.txt", "x"]),
            ("writefile", ["/dangling", "x"]),
            ("stat", ["/linkdir"]),
        ):
            out = call(cloud, method, *args)
            assert out["err"] == {
                "kind": "PermissionDenied",
                "message": f"'{args[0]}' leads out of the volume 'app:data' through a symbolic "
                "link",
            }, (method, args)
        assert outside.read_text() == "secret"
        assert not (tmp_path / "new.txt").exists()
    finally:
        for name in ("link.txt", "linkdir", "dangling"):
            os.unlink(data_dir(cloud) / name)


def test_a_link_inside_the_volume_is_followed(cloud: LocalCloud) -> None:
    assert call(cloud, "writefile", "/target.txt", "in")["value"] is True
    os.symlink(data_dir(cloud) / "target.txt", data_dir(cloud) / "inner-link")
    try:
        assert call(cloud, "readfile", "/inner-link")["value"] == "in"
    finally:
        os.unlink(data_dir(cloud) / "inner-link")


def test_mode_restricts_operations(cloud: LocalCloud) -> None:
    assert call(cloud, "writefile", "/shared.txt", "shared")["value"] is True
    # "0444" has all read bits: Wippy adds the execute bits (0555), so listing works.
    assert call(cloud, "readfile", "/shared.txt", vol="app:readonly")["value"] == "shared"
    listing = run(cloud, "call", "app:readonly", "exists", "/shared.txt")
    assert listing["value"] is True
    for method, args, op in (
        ("writefile", ["/shared.txt", "x"], "writefile"),
        ("mkdir", ["/d"], "mkdir"),
        ("remove", ["/shared.txt"], "remove"),
        ("open", ["/shared.txt", "a"], "open"),
    ):
        out = call(cloud, method, *args, vol="app:readonly")
        assert out["err"] == {
            "kind": "PermissionDenied",
            "message": f"{op} '{args[0]}': the volume 'app:readonly' is mode 0555, which does "
            "not allow write",
        }
    assert call(cloud, "readfile", "/shared.txt")["value"] == "shared"


def test_entries_naming_one_directory_share_files(cloud: LocalCloud) -> None:
    assert call(cloud, "writefile", "/both.txt", "b")["value"] is True
    assert call(cloud, "readfile", "/both.txt", vol="app:same")["value"] == "b"
    # A relative directory climbing out stays under the volumes root.
    assert call(cloud, "writefile", "/r.txt", "r", vol="app:rel")["value"] is True
    root = Path(cloud.resources.fs_root or "")
    assert (root / "rel" / "_parent" / "up" / "here" / "r.txt").read_text() == "r"


def test_get_bad_ids(cloud: LocalCloud) -> None:
    assert call(cloud, "readfile", "/x", vol="app:nope") == {
        "err": {"kind": "NotFound", "message": "filesystem not found: app:nope"}
    }
    assert call(cloud, "readfile", "/x", vol="app:run") == {
        "err": {"kind": "Invalid", "message": "fs.get: 'app:run' is a function.lua, not an fs.directory"}
    }  # fmt: skip
    assert call(cloud, "readfile", "/x", vol="") == {
        "err": {"kind": "Invalid", "message": "filesystem name required"}
    }


def test_files_close_when_the_invocation_ends(cloud: LocalCloud) -> None:
    assert run(cloud, "leak") is True
    out = run(cloud, "after_leak")
    assert out == {
        "value": False,
        "err": {"kind": "Invalid", "message": "file already closed"},
        "str": "fs.File{closed}",
    }
    assert (data_dir(cloud) / "leak.txt").read_text() == "kept"


def test_readfile_over_the_memory_limit_is_refused(cloud: LocalCloud) -> None:
    size = cloud.engine.limits.memory_bytes + 1
    with open(data_dir(cloud) / "huge.bin", "wb") as f:
        f.truncate(size)
    try:
        out = call(cloud, "readfile", "/huge.bin")
        assert out["err"] == {
            "kind": "Invalid",
            "message": f"readfile '/huge.bin': {size} bytes is more than this call's memory "
            f"limit ({size - 1} bytes); read it in chunks with open and read",
        }
    finally:
        os.unlink(data_dir(cloud) / "huge.bin")


def test_workflow_code_is_refused(cloud: LocalCloud) -> None:
    run_id = cloud.start_workflow("app:wf")
    cloud.run_workflows()
    result = cloud.result(run_id)
    assert result.status == "completed", result
    assert result.result == {"v": True, "kind": "Invalid", "message": fs_module.IN_WORKFLOW}


def test_volume_folder_mapping() -> None:
    def entry(directory: str) -> manifest.FsDirectoryEntry:
        return manifest.FsDirectoryEntry(
            id="a:b", namespace="a", name="b", kind="fs.directory", file="x", directory=directory
        )

    assert fs_module.volume_folder("/r", entry("/var/../etc/./x")) == "/r/abs/etc/x"
    assert fs_module.volume_folder("/r", entry("../../d")) == "/r/rel/_parent/_parent/d"
