-- Wippy's stream.Stream, read-only, over a Lua string already in memory: the body of an API
-- Gateway request and the files of a multipart form arrive whole, so a "stream" of them is a
-- cursor over bytes the call holds. Methods and return shapes are those of Wippy's stream
-- module (read / write / seek / flush / stat / close / scanner); writing is refused, as on a
-- request body. Loaded by runtime/modules/http_module.py; returns new(data) -> Stream.

local kit_new_error, INTERNAL = ...
local type, error, setmetatable, tostring = type, error, setmetatable, tostring
local ssub, sbyte, sfind, sformat = string.sub, string.byte, string.find, string.format
local floor, tointeger = math.floor, math.tointeger

local DEFAULT_CHUNK = 32 * 1024 -- read(0) or read() reads this much, as Wippy's stream does
local MAX_TOKEN = 64 * 1024     -- Go's bufio.MaxScanTokenSize: a longer token is an error
local TOO_LONG = "bufio.Scanner: token too long"
local ERROR_RUNE = "\239\191\189" -- U+FFFD, what Go's rune scanner yields for a bad byte

-- Every stream error is Internal and not retryable, as in Wippy.
local function new_error(kind, message) return kit_new_error(kind, message, nil, false) end

local streams = setmetatable({}, { __mode = "k" })
local scanners = setmetatable({}, { __mode = "k" })

local stream_mt = { __metatable = "stream.Stream" }
local methods = {}
stream_mt.__index = methods
stream_mt.__tostring = function(self)
  local s = streams[self]
  return sformat("stream.Stream{size=%d, position=%d}", #s.data, s.pos)
end

local function get(self, method)
  local s = streams[self]
  if s == nil then
    error(sformat("stream:%s: call it on a stream, with ':' (stream:%s(...))", method, method), 3)
  end
  return s
end

local function closed(op)
  return new_error(INTERNAL, "stream " .. op .. ": the stream is closed")
end

function methods.read(self, size)
  local s = get(self, "read")
  if size ~= nil and type(size) ~= "number" then
    error("stream:read: size must be a number of bytes, got " .. type(size), 2)
  end
  if s.closed then return nil, closed("read") end
  local data, pos = s.data, s.pos
  local left = #data - pos
  if left <= 0 then return nil, nil end
  local n = size and floor(size) or 0
  if n ~= n or n <= 0 then n = DEFAULT_CHUNK end
  if n > left then n = left end
  s.pos = pos + n
  return ssub(data, pos + 1, pos + n), nil
end

function methods.write(self, data)
  local s = get(self, "write")
  if s.closed then return 0, closed("write") end
  return 0, new_error(INTERNAL, "stream write: the stream is not writable (it is a request body)")
end

local WHENCE = { set = true, cur = true, ["end"] = true }

function methods.seek(self, whence, offset)
  local s = get(self, "seek")
  whence = whence == nil and "set" or whence
  if not WHENCE[whence] then
    error("stream:seek: invalid whence " .. tostring(whence) .. ": must be 'set', 'cur', or 'end'", 2)
  end
  local off = 0
  if offset ~= nil then
    off = type(offset) == "number" and tointeger(floor(offset)) or nil
    if off == nil then error("stream:seek: offset must be an integer number of bytes", 2) end
  end
  if s.closed then return -1, closed("seek") end
  local base = (whence == "set" and 0) or (whence == "cur" and s.pos) or #s.data
  local target = base + off
  if target < 0 then return -1, new_error(INTERNAL, "stream seek: negative position") end
  s.pos = target
  return target, nil
end

function methods.flush(self)
  local s = get(self, "flush")
  if s.closed then return false, closed("flush") end
  return true, nil
end

function methods.stat(self)
  local s = get(self, "stat")
  if s.closed then return nil, closed("stat") end
  return { size = #s.data, position = s.pos, readable = true, writable = false, seekable = true },
    nil
end

function methods.close(self)
  get(self, "close").closed = true
  return true, nil
end

-- Scanners. Each split function takes the data and the count of bytes consumed so far and
-- returns token, new count; or nil (end) and an error text. They follow Go's bufio splits.

local function decode(data, i)
  -- One UTF-8 sequence at byte i: code point (nil when invalid) and its width (1 if invalid).
  local c = sbyte(data, i)
  if c < 0x80 then return c, 1 end
  local n, cp, min
  if c >= 0xC2 and c <= 0xDF then n, cp, min = 1, c & 0x1F, 0x80
  elseif c >= 0xE0 and c <= 0xEF then n, cp, min = 2, c & 0x0F, 0x800
  elseif c >= 0xF0 and c <= 0xF4 then n, cp, min = 3, c & 0x07, 0x10000
  else return nil, 1 end
  for k = 1, n do
    local b = sbyte(data, i + k)
    if b == nil or b & 0xC0 ~= 0x80 then return nil, 1 end
    cp = (cp << 6) | (b & 0x3F)
  end
  if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then return nil, 1 end
  return cp, n + 1
end

local function is_space(r)
  -- Go's bufio isSpace: ASCII and Latin-1 spaces plus the Unicode space separators.
  if r == nil then return false end
  if r <= 0xFF then
    return r == 32 or (r >= 9 and r <= 13) or r == 0x85 or r == 0xA0
  end
  return (r >= 0x2000 and r <= 0x200A) or r == 0x1680 or r == 0x2028 or r == 0x2029
    or r == 0x202F or r == 0x205F or r == 0x3000
end

local function split_lines(data, pos)
  local len = #data
  if pos >= len then return nil end
  local nl = sfind(data, "\n", pos + 1, true)
  local last, consumed = len, len
  if nl then last, consumed = nl - 1, nl end
  if consumed - pos > MAX_TOKEN then return nil, TOO_LONG end
  if last > pos and sbyte(data, last) == 13 then last = last - 1 end
  return ssub(data, pos + 1, last), consumed
end

local function split_bytes(data, pos)
  if pos >= #data then return nil end
  return ssub(data, pos + 1, pos + 1), pos + 1
end

local function split_runes(data, pos)
  if pos >= #data then return nil end
  local cp, width = decode(data, pos + 1)
  if cp == nil then return ERROR_RUNE, pos + 1 end
  return ssub(data, pos + 1, pos + width), pos + width
end

local function split_words(data, pos)
  local len = #data
  local i = pos + 1
  while i <= len do -- skip leading spaces
    local cp, width = decode(data, i)
    if not is_space(cp) then break end
    i = i + width
  end
  if i > len then return nil end
  local start = i
  while i <= len do
    local cp, width = decode(data, i)
    if is_space(cp) then
      if i + width - 1 - pos > MAX_TOKEN then return nil, TOO_LONG end
      return ssub(data, start, i - 1), i + width - 1
    end
    i = i + width
  end
  if len - pos > MAX_TOKEN then return nil, TOO_LONG end
  return ssub(data, start, len), len
end

local SPLITS = { lines = split_lines, words = split_words, bytes = split_bytes, runes = split_runes }

local scanner_mt = { __metatable = "stream.Scanner" }
local scanner_methods = {}
scanner_mt.__index = scanner_methods

local function get_scanner(self, method)
  local sc = scanners[self]
  if sc == nil then
    error(sformat("scanner:%s: call it on a scanner, with ':' (scanner:%s())", method, method), 3)
  end
  return sc
end

function scanner_methods.scan(self)
  local sc = get_scanner(self, "scan")
  if sc.done then return false, nil end
  local s = sc.stream
  if s.closed then return false, new_error(INTERNAL, "scanner scan: the stream is closed") end
  local token, consumed_or_err = sc.split(s.data, s.pos)
  if token == nil then
    sc.done, sc.text, sc.err = true, "", consumed_or_err
    return false, nil
  end
  s.pos, sc.text = consumed_or_err, token
  return true, nil
end

function scanner_methods.text(self)
  return get_scanner(self, "text").text
end

function scanner_methods.err(self)
  return get_scanner(self, "err").err
end

function methods.scanner(self, split)
  local s = get(self, "scanner")
  split = split == nil and "lines" or split
  local fn = SPLITS[split]
  if fn == nil then
    error("stream:scanner: invalid split type " .. tostring(split)
      .. ": must be 'lines', 'words', 'bytes', or 'runes'", 2)
  end
  if s.closed then return nil, closed("scanner") end
  local sc = setmetatable({}, scanner_mt)
  scanners[sc] = { stream = s, split = fn, text = "", done = false }
  return sc, nil
end

return function(data)
  local stream = setmetatable({}, stream_mt)
  streams[stream] = { data = data, pos = 0, closed = false }
  return stream
end
