"""``fs``: Wippy's filesystem volumes (``fs.directory`` entries) on a real folder.

``fs.get(id)`` acquires a volume and returns a handle with Wippy's methods: ``readfile`` /
``read_file``, ``writefile`` / ``write_file``, ``exists``, ``isdir``, ``stat``, ``mkdir``,
``remove``, ``readdir``, ``open``, ``chdir``, ``pwd``; ``open`` gives a file with ``read``,
``write``, ``seek``, ``stat``, ``sync``, ``close`` and ``scanner`` (``scan``, ``text``, ``err``).
``fs.type`` and ``fs.seek`` are Wippy's constants.

Where a volume lives: every volume is a folder under the engine's volumes root
(``Resources.fs_root``): on Lambda the instance's ephemeral storage (``/tmp/units-fs``), in the
harness and ``units dev`` a temporary folder per cloud. The entry's ``directory`` names the
folder under that root (``abs/var/data`` for ``/var/data``, ``rel/data`` for ``./data``), so two
entries naming one directory share files, as in Wippy, and nothing outside the root is ever
touched. The folder is made on first use.

Path safety, as in Wippy: paths are relative to the volume (a leading ``/`` is its root, not
the machine's), ``..`` may not climb out of it (``Invalid``), and a symbolic link that leads
out of the volume is refused (``PermissionDenied``). The entry's ``mode`` is checked on every
operation (read bits for reads, write bits for writes), as Wippy's directory volumes do.

Open files are closed when the invocation ends (a process: its batch). In a workflow the
filesystem is an effect and is refused: a function (an activity) must use it.
"""

from __future__ import annotations

import errno
import itertools
import os
import posixpath
import stat as stat_mod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime import manifest
from runtime.errors import (
    ALREADY_EXISTS,
    INTERNAL,
    INVALID,
    NOT_FOUND,
    PERMISSION_DENIED,
    UnitError,
)
from runtime.modules import io_ops
from runtime.sandbox import lua_text

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime
    from runtime.scheduler import Scheduler

IN_WORKFLOW = (
    "fs: files are outside state, an effect a workflow cannot replay; call a function (an "
    "activity) that uses them, with funcs.call, from the workflow instead"
)
#: Wippy's defaults: ``read()`` without a size, and Go's bufio.Scanner token limit.
DEFAULT_READ, MAX_TOKEN = 4096, 64 * 1024
#: Modes ``open`` and ``writefile`` take -> os.open flags.
_OPEN_FLAGS = {
    "r": os.O_RDONLY,
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "wx": os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
}
_WHENCE = {"set": os.SEEK_SET, "cur": os.SEEK_CUR, "end": os.SEEK_END}
_READ, _WRITE, _EXEC = 0o400, 0o200, 0o100
#: Go's fs.ModeDir, part of the ``mode`` number Wippy's stat reports for a directory.
_GO_MODE_DIR = 1 << 31

_LUA = """
local host, kit = ...
local new_error = kit.new_error
local type, error, setmetatable, tostring, sformat, math_type = type, error, setmetatable,
  tostring, string.format, math.type

local vols = setmetatable({}, { __mode = "k" })
local files = setmetatable({}, { __mode = "k" })
local scanners = setmetatable({}, { __mode = "k" })

local function invalid(message, first) return first, new_error("Invalid", message, nil, false) end

local vol_mt = { __metatable = "fs.FS" }
local vol = {}
vol_mt.__index = vol
vol_mt.__tostring = function(self)
  local v = vols[self]
  return "fs.FS{cwd=" .. (v and v.cwd or ".") .. "}"
end

local file_mt = { __metatable = "fs.File" }
local file = {}
file_mt.__index = file
file_mt.__tostring = function(self)
  local id = files[self]
  if id ~= nil and host.is_open(id) then return "fs.File{}" end
  return "fs.File{closed}"
end

local scanner_mt = { __metatable = "fs.Scanner" }
local scanner = {}
scanner_mt.__index = scanner
scanner_mt.__tostring = function() return "fs.Scanner{}" end

local function own(t, self, what, method)
  local h = t[self]
  if h == nil then
    error(sformat("fs %s:%s: call it on a %s, with ':' (x:%s(...))", what, method, what,
      method), 3)
  end
  return h
end

local function text(v, method, what, optional)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return tostring(v) end
  if optional and v == nil then return nil end
  error(sformat("fs:%s: %s must be a string, got %s", method, what, t), 3)
end

-- A volume method taking a path: (volume id, cwd, path, ...) to the host.
local function path_method(name, op, default_path)
  vol[name] = function(self, path, ...)
    local v = own(vols, self, "volume", name)
    path = text(path, name, "path", default_path ~= nil)
    if path == nil then path = default_path end
    return host[op](v.id, v.cwd, path, ...)
  end
end
path_method("readfile", "readfile")
path_method("read_file", "readfile")
path_method("exists", "exists", "")
path_method("isdir", "isdir", "")
path_method("stat", "stat")
path_method("mkdir", "mkdir")
path_method("remove", "remove")

local function writefile(self, path, data, mode)
  local v = own(vols, self, "volume", "writefile")
  path = text(path, "writefile", "path")
  mode = text(mode, "writefile", "mode", true) or "w"
  if data == nil then return invalid("data argument required", false) end
  local source
  if type(data) ~= "string" then
    source = files[data]
    if source == nil then
      return invalid("invalid input type, expected string or Reader (an fs.File), got " ..
        type(data), false)
    end
    data = nil
  end
  return host.writefile(v.id, v.cwd, path, data, source, mode)
end
vol.writefile, vol.write_file = writefile, writefile

function vol.readdir(self, path)
  local v = own(vols, self, "volume", "readdir")
  path = text(path, "readdir", "path")
  local list, err = host.readdir(v.id, v.cwd, path)
  if list == nil then return nil, err end
  local i = 0
  local function next_entry()
    i = i + 1
    return list[i]
  end
  return next_entry, list
end

function vol.open(self, path, mode)
  local v = own(vols, self, "volume", "open")
  path = text(path, "open", "path")
  mode = text(mode, "open", "mode")
  local id, err = host.open(v.id, v.cwd, path, mode)
  if id == nil then return nil, err end
  local f = setmetatable({}, file_mt)
  files[f] = id
  return f, nil
end

function vol.chdir(self, path)
  local v = own(vols, self, "volume", "chdir")
  path = text(path, "chdir", "path")
  local cwd, err = host.chdir(v.id, v.cwd, path)
  if cwd == nil then return false, err end
  v.cwd = cwd
  return true, nil
end

function vol.pwd(self)
  local v = own(vols, self, "volume", "pwd")
  if v.cwd == "." then return "/", nil end
  return "/" .. v.cwd, nil
end

function file.read(self, size)
  local id = own(files, self, "file", "read")
  if size == nil then size = 4096 end
  if math_type(size) ~= "integer" then
    if math_type(size) == "float" and size == math.floor(size) then size = math.tointeger(size)
    else error("fs file:read: size must be an integer, got " .. type(size), 2) end
  end
  return host.read(id, size)
end

function file.write(self, data)
  local id = own(files, self, "file", "write")
  data = text(data, "write", "data")
  return host.write(id, data)
end

function file.seek(self, whence, offset)
  local id = own(files, self, "file", "seek")
  whence = text(whence, "seek", "whence")
  if math_type(offset) ~= "integer" then
    if math_type(offset) == "float" and offset == math.floor(offset) then
      offset = math.tointeger(offset)
    else error("fs file:seek: offset must be an integer, got " .. type(offset), 2) end
  end
  return host.seek(id, whence, offset)
end

function file.stat(self) return host.fstat(own(files, self, "file", "stat")) end
function file.sync(self) return host.sync(own(files, self, "file", "sync")) end
function file.close(self) return host.close(own(files, self, "file", "close")) end

function file.scanner(self, split)
  local id = own(files, self, "file", "scanner")
  split = text(split, "scanner", "split", true) or "lines"
  local sid, err = host.scanner(id, split)
  if sid == nil then return nil, err end
  local s = setmetatable({}, scanner_mt)
  scanners[s] = sid
  return s, nil
end

function scanner.scan(self) return host.scan(own(scanners, self, "scanner", "scan")) end
function scanner.text(self) return host.token(own(scanners, self, "scanner", "text")) end
function scanner.err(self) return host.scan_err(own(scanners, self, "scanner", "err")) end

local M = {
  type = { FILE = "file", DIR = "directory" },
  seek = { SET = "set", CUR = "cur", END = "end" },
}
function M.get(name)
  if type(name) ~= "string" and type(name) ~= "number" then
    error(sformat("fs.get: the filesystem name must be a string, got %s", type(name)), 2)
  end
  name = tostring(name)
  if name == "" then return invalid("filesystem name required", nil) end
  local id, err = host.acquire(name)
  if id == nil then return nil, err end
  local v = setmetatable({}, vol_mt)
  vols[v] = { id = id, cwd = "." }
  return v, nil
end

-- For other modules (cloudstorage's download_object): the open file id of an fs.File.
local function file_id(v) return files[v] end
return M, file_id
"""


def _error(kind: str, message: str) -> UnitError:
    return UnitError(kind, message, retryable=False)


def volume_folder(root: str, entry: manifest.FsDirectoryEntry) -> str:
    """The folder under the volumes ``root`` that holds ``entry``'s files: its ``directory``
    normalized, under ``abs/`` when absolute and ``rel/`` when not (a leading ``..`` becomes
    ``_parent``, so nothing lands outside ``root``)."""
    written = entry.directory
    absolute = written.startswith("/")
    parts = [p for p in posixpath.normpath(written).split("/") if p and p != "."]
    safe = ["_parent" if p == ".." else p for p in parts]
    return os.path.join(root, "abs" if absolute else "rel", *safe)


def _go_mode(st: os.stat_result) -> int:
    """The ``mode`` number Wippy's stat gives: Go's FileMode (permission bits, ModeDir)."""
    mode = stat_mod.S_IMODE(st.st_mode) & 0o777
    return mode | _GO_MODE_DIR if stat_mod.S_ISDIR(st.st_mode) else mode


@dataclass
class _Volume:
    entry: manifest.FsDirectoryEntry
    root: str

    def check(self, op: str, path: str, needs: int) -> None:
        """Refuse ``op`` when the volume's mode lacks the owner bits ``needs``."""
        if self.entry.mode & needs != needs:
            words = [w for bit, w in ((_READ, "read"), (_WRITE, "write")) if needs & bit]
            raise _error(
                PERMISSION_DENIED,
                f"{op} '{path}': the volume '{self.entry.id}' is mode "
                f"{self.entry.mode:04o}, which does not allow {' and '.join(words) or 'listing'}",
            )

    def resolve(self, cwd: str, path: str) -> tuple[str, str]:
        """``path`` (from Lua, relative to ``cwd``) as (the volume-relative path, the real
        path on disk), or an error when it leaves the volume."""
        if "\0" in path:
            raise _error(INVALID, "path contains null byte")
        if path == "":
            rel = cwd
        elif path.startswith("/"):
            rel = path.lstrip("/") or "."
        else:
            rel = posixpath.join(cwd, path)
        rel = posixpath.normpath(rel)
        if rel == ".." or rel.startswith("../"):
            raise _error(INVALID, f"path traversal not allowed: '{path}' leaves the volume")
        real = self.root if rel == "." else os.path.join(self.root, rel)
        # A symbolic link (made outside the sandbox: Lua cannot make one) must not lead out.
        resolved = os.path.realpath(real)
        if resolved != self.root and not resolved.startswith(self.root + os.sep):
            raise _error(
                PERMISSION_DENIED,
                f"'{path}' leads out of the volume '{self.entry.id}' through a symbolic link",
            )
        return rel, real


def _os_error(op: str, path: str, exc: OSError) -> UnitError:
    """An OS error of ``op`` on ``path`` as Wippy's error kinds."""
    code = exc.errno
    if code in (errno.ENOENT, errno.ENOTDIR):
        return _error(NOT_FOUND, f"{op} '{path}': no such file or directory")
    if code == errno.EEXIST:
        return _error(ALREADY_EXISTS, f"{op} '{path}': path already exists")
    if code == errno.EISDIR:
        return _error(INVALID, f"{op} '{path}': is a directory")
    if code == errno.ENOTEMPTY:
        return _error(INVALID, f"directory not empty: {path}")
    if code in (errno.EACCES, errno.EPERM):
        return _error(PERMISSION_DENIED, f"{op} '{path}': permission denied")
    if code == errno.ELOOP:
        return _error(PERMISSION_DENIED, f"{op} '{path}': a symbolic link is not followed here")
    if code == errno.ENOSPC:
        return _error(INTERNAL, f"{op} '{path}': no space left on the volume's storage")
    if code == errno.EBADF:
        return _error(INTERNAL, f"{op} failed: the file is not open for that ({path})")
    return _error(INTERNAL, f"{op} '{path}' failed: {exc.strerror or exc}")


@dataclass(eq=False)
class OpenFile:
    """One file ``open`` returned: its descriptor, the path it was opened as, its volume."""

    fd: int
    path: str
    volume: _Volume
    #: The mode it was opened with: "r", "w", "wx" or "a".
    mode: str = "r"
    closed: bool = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes from the position (b"" at the end)."""
        if self.closed:
            raise _error(INVALID, "file already closed")
        try:
            return os.read(self.fd, size)
        except OSError as exc:
            raise _os_error("read", self.path, exc) from None


@dataclass(eq=False)
class _Scanner:
    """Go's bufio.Scanner over an open file: tokens by lines, words, bytes or runes."""

    file: OpenFile
    split: str
    buffer: bytearray = field(default_factory=bytearray)
    eof: bool = False
    token: bytes = b""
    error: str | None = None
    done: bool = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.file.read(DEFAULT_READ)
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        return True

    def scan(self) -> bool:
        if self.done:
            self.token = b""
            return False
        while True:
            found = self._token()
            if found is not None:
                self.token = found
                return True
            if len(self.buffer) > MAX_TOKEN:
                self.error, self.done, self.token = "bufio.Scanner: token too long", True, b""
                return False
            try:
                more = self._fill()
            except UnitError as exc:
                self.error, self.done, self.token = exc.message, True, b""
                return False
            if not more:
                last = self._final()
                self.done, self.token = True, last or b""
                return last is not None

    def _take(self, n: int, skip: int = 0) -> bytes:
        out = bytes(self.buffer[:n])
        del self.buffer[: n + skip]
        return out

    def _token(self) -> bytes | None:
        """The next complete token in the buffer, or None when more input is needed."""
        buf = self.buffer
        if self.split == "lines":
            i = buf.find(b"\n")
            if i < 0:
                return None
            line = self._take(i, 1)
            return line[:-1] if line.endswith(b"\r") else line
        if self.split == "bytes":
            return self._take(1) if buf else None
        if self.split == "runes":
            if not buf:
                return None
            n = _rune_length(buf)
            if n is None:
                return None
            if n == 0:
                del buf[:1]
                return "\ufffd".encode()
            return self._take(n)
        # words: skip leading spaces, then up to the next space
        text = bytes(buf).decode("utf-8", "surrogateescape")
        start = len(text) - len(text.lstrip())
        rest = text[start:]
        for i, ch in enumerate(rest):
            if ch.isspace():
                word = rest[:i]
                consumed = len((text[:start] + word + ch).encode("utf-8", "surrogateescape"))
                del buf[:consumed]
                return word.encode("utf-8", "surrogateescape")
        return None

    def _final(self) -> bytes | None:
        """At the end of the file: what is left in the buffer as a last token, if any."""
        if not self.buffer:
            return None
        if self.split == "lines":
            line = self._take(len(self.buffer))
            return line[:-1] if line.endswith(b"\r") else line
        if self.split == "words":
            word = bytes(self.buffer).decode("utf-8", "surrogateescape").strip()
            self.buffer.clear()
            return word.encode("utf-8", "surrogateescape") or None
        if self.split == "runes":
            del self.buffer[:1]  # an incomplete sequence at the end: one replacement rune
            return "\ufffd".encode()
        return self._take(1)


def _rune_length(buf: bytearray) -> int | None:
    """The length of the UTF-8 sequence at the start of ``buf``: 0 when it is invalid, None
    when more bytes are needed to tell."""
    first = buf[0]
    if first < 0x80:
        return 1
    n = 2 if 0xC2 <= first <= 0xDF else 3 if 0xE0 <= first <= 0xEF else 4 if first <= 0xF4 else 0
    if n == 0 or first < 0xC2:
        return 0
    if len(buf) < n:
        # an invalid continuation byte already present decides it
        if any(b & 0xC0 != 0x80 for b in buf[1:]):
            return 0
        return None
    try:
        bytes(buf[:n]).decode("utf-8")
    except UnicodeDecodeError:
        return 0
    return n


_ids = itertools.count(1)


class _Files:
    """The open files and scanners of one invocation (closed when it ends)."""

    def __init__(self) -> None:
        self.files: dict[int, OpenFile] = {}
        self.scanners: dict[int, _Scanner] = {}

    def close_all(self) -> None:
        for f in self.files.values():
            f.close()
        self.files.clear()
        self.scanners.clear()


def open_files(engine: Engine) -> _Files:
    """The open files of the invocation running on ``engine`` (made on first use; closed by
    the scheduler's end)."""
    scheduler: Scheduler | None = engine.scheduler
    if scheduler is None:
        raise _error(INTERNAL, "fs: no invocation is running")
    files = scheduler.locals.get("fs.files")
    if files is None:
        files = scheduler.locals["fs.files"] = _Files()
        scheduler.cleanups.append(files.close_all)
    return files


def file_of(engine: Engine, file_id: Any) -> OpenFile:
    """The open file behind an fs.File's id, or an Invalid error when it is closed (or was
    opened by an invocation that has ended)."""
    f = open_files(engine).files.get(int(file_id)) if file_id is not None else None
    if f is None or f.closed:
        raise _error(INVALID, "file already closed")
    return f


class _Core:
    """The Lua side and the host functions of ``fs``, once per engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.volumes: dict[str, _Volume] = {}
        state = engine.state
        host = state.table(**{k: state.wrap(v) for k, v in self._host().items()})
        self.module, self.file_id = state.lua.execute(_LUA, host, state.kit, name="=[kit]fs")

    # -- volumes -----------------------------------------------------------------------------
    def volume(self, raw_id: Any) -> _Volume:
        if (why := io_ops.refusal(self.engine, "fs", IN_WORKFLOW)) is not None:
            raise _error(INVALID, why)
        entry_id = lua_text(raw_id)
        cached = self.volumes.get(entry_id)
        if cached is not None:
            return cached
        entry = self.engine.registry.find(entry_id)
        if entry is None:
            raise _error(NOT_FOUND, f"filesystem not found: {entry_id}")
        if not isinstance(entry, manifest.FsDirectoryEntry):
            raise _error(INVALID, f"fs.get: '{entry_id}' is a {entry.kind}, not an fs.directory")
        folder = volume_folder(self.engine.resources.volumes_root(), entry)
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise _error(INTERNAL, f"fs.get: cannot create the volume's folder: {exc}") from None
        volume = _Volume(entry, os.path.realpath(folder))
        self.volumes[entry_id] = volume
        return volume

    def files(self) -> _Files:
        if (why := io_ops.refusal(self.engine, "fs", IN_WORKFLOW)) is not None:
            raise _error(INVALID, why)
        return open_files(self.engine)

    def _limit(self, op: str, path: str, size: int) -> None:
        limit = self.engine.limits.memory_bytes
        if size > limit:
            raise _error(
                INVALID,
                f"{op} '{path}': {size} bytes is more than this call's memory limit ({limit} "
                "bytes); read it in chunks with open and read",
            )

    # -- host functions ----------------------------------------------------------------------
    def _host(self) -> dict[str, Any]:
        engine, codec = self.engine, self.engine.codec
        state = engine.state

        def fallible(fn: Any, fail: Any = None) -> Any:
            def call(*args: Any) -> Any:
                try:
                    return fn(*args)
                except UnitError as exc:
                    return fail, state.error_value(exc)

            return call

        def args(raw_id: Any, raw_cwd: bytes, raw_path: bytes) -> tuple[_Volume, str, str, str]:
            v = self.volume(raw_id)
            path = raw_path.decode("utf-8", "surrogateescape")
            rel, real = v.resolve(raw_cwd.decode("utf-8", "surrogateescape"), path)
            return v, path, rel, real

        def required(path: str) -> None:
            if path == "":
                raise _error(INVALID, "path required")

        def info(st: os.stat_result, name: str) -> Any:
            is_dir = stat_mod.S_ISDIR(st.st_mode)
            return codec.to_lua(
                {
                    "name": name,
                    "size": st.st_size,
                    "mode": _go_mode(st),
                    "modified": int(st.st_mtime),
                    "is_dir": is_dir,
                    "type": "directory" if is_dir else "file",
                },
                "stat",
            )

        def acquire(raw_id: Any) -> Any:
            return self.volume(raw_id).entry.id, None

        def readfile(raw_id: Any, cwd: bytes, raw: bytes) -> Any:
            v, path, _rel, real = args(raw_id, cwd, raw)
            required(path)
            v.check("readfile", path, _READ)
            try:
                fd = os.open(real, os.O_RDONLY)
            except OSError as exc:
                raise _os_error("readfile", path, exc) from None
            try:
                size = os.fstat(fd).st_size
                if stat_mod.S_ISDIR(os.fstat(fd).st_mode):
                    raise _error(INVALID, f"readfile '{path}': is a directory")
                self._limit("readfile", path, size)
                chunks = []
                while chunk := os.read(fd, 1 << 20):
                    chunks.append(chunk)
                    size -= len(chunk)
                    if size < -engine.limits.memory_bytes:  # it grew while read
                        self._limit("readfile", path, engine.limits.memory_bytes + 1)
                return b"".join(chunks), None
            except OSError as exc:
                raise _os_error("readfile", path, exc) from None
            finally:
                os.close(fd)

        def open_fd(v: _Volume, op: str, path: str, real: str, mode: str) -> int:
            flags = _OPEN_FLAGS[mode]
            v.check(op, path, _READ if mode == "r" else _WRITE)
            if os.path.isdir(real):
                raise _error(INVALID, f"{op} '{path}': is a directory")
            try:
                # O_NOFOLLOW: the last part cannot be a link swapped in after the check.
                return os.open(real, flags | os.O_NOFOLLOW, 0o644 & v.entry.mode)
            except OSError as exc:
                raise _os_error(op, path, exc) from None

        def writefile(raw_id: Any, cwd: bytes, raw: bytes, data: Any, source: Any, m: Any) -> Any:
            v, path, _rel, real = args(raw_id, cwd, raw)
            required(path)
            mode = lua_text(m)
            if mode not in ("w", "wx", "a"):
                raise _error(INVALID, "invalid mode; must be 'w', 'wx' or 'a'")
            reader = file_of(engine, source) if source is not None else None
            fd = open_fd(v, "writefile", path, real, mode)
            try:
                if reader is None:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                else:
                    while chunk := reader.read(1 << 20):
                        view = memoryview(chunk)
                        while view:
                            view = view[os.write(fd, view) :]
            except OSError as exc:
                raise _os_error("writefile", path, exc) from None
            finally:
                os.close(fd)
            return True, None

        def exists(raw_id: Any, cwd: bytes, raw: bytes) -> Any:
            v, path, _rel, real = args(raw_id, cwd, raw)
            v.check("exists", path, _READ)
            return os.path.lexists(real), None

        def isdir(raw_id: Any, cwd: bytes, raw: bytes) -> Any:
            v, path, _rel, real = args(raw_id, cwd, raw)
            v.check("isdir", path, _READ)
            try:
                return stat_mod.S_ISDIR(os.stat(real).st_mode), None
            except OSError as exc:
                raise _os_error("isdir", path, exc) from None

        def stat(raw_id: Any, cwd: bytes, raw: bytes) -> Any:
            v, path, rel, real = args(raw_id, cwd, raw)
            required(path)
            v.check("stat", path, _READ)
            try:
                return info(os.stat(real), posixpath.basename(rel) or "."), None
            except OSError as exc:
                raise _os_error("stat", path, exc) from None

        def mkdir(raw_id: Any, cwd: bytes, raw: bytes) -> Any:
            v, path, _rel, real = args(raw_id, cwd, raw)
            required(path)
            v.check("mkdir", path, _WRITE | _EXEC)
            if os.path.lexists(real):
                raise _error(ALREADY_EXISTS, f"path already exists: {path}")
            try:
                os.mkdir(real, 0o755 & v.entry.mode)
            except FileNotFoundError:
                raise _error(
                    NOT_FOUND, f"mkdir '{path}': the parent directory does not exist"
                ) from None
            except OSError as exc:
                raise _os_error("mkdir", path, exc) from None
            return True, None

        def remove(raw_id: Any, cwd: bytes, raw: bytes) -> Any:
            v, path, rel, real = args(raw_id, cwd, raw)
            required(path)
            if rel == ".":
                raise _error(INVALID, f"remove '{path}': the volume's root cannot be removed")
            v.check("remove", path, _WRITE)
            try:
                if os.path.isdir(real) and not os.path.islink(real):
                    if os.listdir(real):
                        raise _error(INVALID, f"directory not empty: {path}")
                    os.rmdir(real)
                else:
                    os.remove(real)
            except OSError as exc:
                raise _os_error("remove", path, exc) from None
            return True, None

        def readdir(raw_id: Any, cwd: bytes, raw: bytes) -> Any:
            v, path, _rel, real = args(raw_id, cwd, raw)
            required(path)
            v.check("readdir", path, _READ | _EXEC)
            try:
                if not os.path.isdir(real):
                    if not os.path.exists(real):
                        raise _error(NOT_FOUND, f"readdir '{path}': no such file or directory")
                    raise _error(INVALID, f"not a directory: {path}")
                with os.scandir(real) as it:
                    entries = sorted(
                        (
                            {"name": e.name, "type": "directory" if e.is_dir() else "file"}
                            for e in it
                        ),
                        key=lambda e: e["name"].encode("utf-8", "surrogateescape"),
                    )
            except OSError as exc:
                raise _os_error("readdir", path, exc) from None
            return state.lua.table_from([codec.to_lua(e, "entry") for e in entries]), None

        def chdir(raw_id: Any, cwd: bytes, raw: bytes) -> Any:
            v, path, rel, real = args(raw_id, cwd, raw)
            required(path)
            v.check("chdir", path, _EXEC)
            if not os.path.exists(real):
                raise _error(NOT_FOUND, f"chdir '{path}': no such file or directory")
            if not os.path.isdir(real):
                raise _error(INVALID, f"not a directory: {path}")
            return rel.encode("utf-8", "surrogateescape"), None

        def open_(raw_id: Any, cwd: bytes, raw: bytes, m: bytes) -> Any:
            v, path, _rel, real = args(raw_id, cwd, raw)
            required(path)
            mode = lua_text(m)
            if mode not in _OPEN_FLAGS:
                raise _error(INVALID, "invalid mode: must be 'r', 'w', 'wx' or 'a'")
            files = self.files()
            fd = open_fd(v, "open", path, real, mode)
            file_id = next(_ids)
            files.files[file_id] = OpenFile(fd, path, v, mode)
            return file_id, None

        def is_open(file_id: int) -> bool:
            scheduler = engine.scheduler
            files = scheduler.locals.get("fs.files") if scheduler is not None else None
            f = files.files.get(int(file_id)) if files is not None else None
            return f is not None and not f.closed

        def file(file_id: int) -> OpenFile:
            if (why := io_ops.refusal(engine, "fs", IN_WORKFLOW)) is not None:
                raise _error(INVALID, why)
            return file_of(engine, file_id)

        def read(file_id: int, size: int) -> Any:
            f = file(file_id)
            if size <= 0:
                raise _error(INVALID, "size must be positive")
            self._limit("read", f.path, size)
            data = f.read(size)
            if not data:
                raise _error(NOT_FOUND, "EOF")
            return data, None

        def write(file_id: int, data: bytes) -> Any:
            f = file(file_id)
            if not data:
                raise _error(INVALID, "data required")
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(f.fd, view) :]
            except OSError as exc:
                raise _os_error("write", f.path, exc) from None
            return True, None

        def seek(file_id: int, raw_whence: bytes, offset: int) -> Any:
            f = file(file_id)
            whence = _WHENCE.get(lua_text(raw_whence))
            if whence is None:
                raise _error(INVALID, "invalid whence: must be 'set', 'cur', or 'end'")
            try:
                return os.lseek(f.fd, offset, whence), None
            except OSError as exc:
                raise _os_error("seek", f.path, exc) from None

        def fstat(file_id: int) -> Any:
            f = file(file_id)
            try:
                return info(os.fstat(f.fd), posixpath.basename(f.path.rstrip("/"))), None
            except OSError as exc:
                raise _os_error("stat", f.path, exc) from None

        def sync(file_id: int) -> Any:
            f = file(file_id)
            try:
                os.fsync(f.fd)
            except OSError as exc:
                raise _os_error("sync", f.path, exc) from None
            return True, None

        def close(file_id: int) -> Any:
            scheduler = engine.scheduler
            files = scheduler.locals.get("fs.files") if scheduler is not None else None
            f = files.files.pop(int(file_id), None) if files is not None else None
            if f is not None:
                try:
                    f.close()
                except OSError as exc:
                    raise _os_error("close", f.path, exc) from None
            return True, None

        def scanner(file_id: int, raw_split: bytes) -> Any:
            if (why := io_ops.refusal(engine, "fs", IN_WORKFLOW)) is not None:
                raise _error(INVALID, why)
            files = open_files(engine)
            f = files.files.get(int(file_id))
            if f is None or f.closed:
                raise _error(INVALID, "file is closed")
            split = lua_text(raw_split)
            if split not in ("lines", "words", "bytes", "runes"):
                raise _error(
                    INVALID, "invalid split type: must be 'lines', 'words', 'bytes', or 'runes'"
                )
            sid = next(_ids)
            files.scanners[sid] = _Scanner(f, split)
            return sid, None

        def the_scanner(sid: int) -> _Scanner | None:
            scheduler = engine.scheduler
            files = scheduler.locals.get("fs.files") if scheduler is not None else None
            return files.scanners.get(int(sid)) if files is not None else None

        def scan(sid: int) -> bool:
            s = the_scanner(sid)
            if s is None:
                return False
            if s.file.closed and not s.done:
                s.error, s.done = "file already closed", True
            return s.scan()

        def token(sid: int) -> bytes:
            s = the_scanner(sid)
            return s.token if s is not None else b""

        def scan_err(sid: int) -> Any:
            s = the_scanner(sid)
            if s is None or s.error is None:
                return None
            return state.error_value(_error(INTERNAL, f"scanner: {s.error}"))

        return {
            "acquire": fallible(acquire),
            "readfile": fallible(readfile),
            "writefile": fallible(writefile, False),
            "exists": fallible(exists, False),
            "isdir": fallible(isdir, False),
            "stat": fallible(stat),
            "mkdir": fallible(mkdir, False),
            "remove": fallible(remove, False),
            "readdir": fallible(readdir),
            "chdir": fallible(chdir),
            "open": fallible(open_),
            "is_open": is_open,
            "read": fallible(read),
            "write": fallible(write, False),
            "seek": fallible(seek),
            "fstat": fallible(fstat),
            "sync": fallible(sync, False),
            "close": fallible(close, False),
            "scanner": fallible(scanner),
            "scan": scan,
            "token": token,
            "scan_err": scan_err,
        }


def core(engine: Engine) -> _Core:
    """The engine's ``fs`` (made on first use): one per engine, so that an fs.File can be
    handed between entries and to other modules (cloudstorage's download_object)."""
    found: _Core | None = getattr(engine, "_fs_core", None)
    if found is None:
        found = _Core(engine)
        setattr(engine, "_fs_core", found)  # noqa: B010 - the engine knows no module by name
    return found


def build(engine: Engine, unit: EntryRuntime) -> Any:
    return core(engine).module
