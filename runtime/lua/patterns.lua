-- Lua 5.4's pattern matching (lstrlib.c: find, match, gmatch, gsub) written in Lua.
--
-- Why: the C matcher backtracks without the instruction hook ever firing, so a pattern like
-- ("a*"):rep(20) .. "c" over a few thousand "a"s runs for hours in one VM instruction and the
-- worker hangs. The sandbox (prelude.lua) hands patterns whose worst case is large for their
-- subject to these functions instead: they give the same results, run as ordinary Lua under the
-- task's instruction budget, and so stop with "instruction budget exceeded" like any loop.
-- Loaded once by runtime/sandbox.py and passed to the prelude; application code never sees it.
-- Errors are raised at level 1 (a "[kit]:line:" position), as the C functions called from the
-- prelude's wrappers name the wrapper's line.

local type, tostring, error, tonumber, ipairs = type, tostring, error, tonumber, ipairs
local tointeger = math.tointeger
local sbyte, ssub, sfind, sformat = string.byte, string.sub, string.find, string.format
local concat, unpack = table.concat, table.unpack

local L_ESC = 37 -- '%'
local MAXCCALLS = 200
local MAXCAPTURES = 32
local CAP_UNFINISHED, CAP_POSITION = -1, -2

local B = {}
for _, c in ipairs({ "(", ")", "$", "%", "[", "]", "^", "*", "+", "?", "-", ".", "b", "f", "0",
  "9" }) do B[c] = sbyte(c) end

-- C locale character classes over byte values.
local function isalpha(c) return (c >= 65 and c <= 90) or (c >= 97 and c <= 122) end
local function isdigit(c) return c >= 48 and c <= 57 end
local function islower(c) return c >= 97 and c <= 122 end
local function isupper(c) return c >= 65 and c <= 90 end
local function isalnum(c) return isalpha(c) or isdigit(c) end
local function isspace(c) return c == 32 or (c >= 9 and c <= 13) end
local function iscntrl(c) return c < 32 or c == 127 end
local function isgraph(c) return c >= 33 and c <= 126 end
local function ispunct(c) return isgraph(c) and not isalnum(c) end
local function isxdigit(c)
  return isdigit(c) or (c >= 97 and c <= 102) or (c >= 65 and c <= 70)
end
local CLASSES = {
  [97] = isalpha, [99] = iscntrl, [100] = isdigit, [103] = isgraph, [108] = islower,
  [112] = ispunct, [115] = isspace, [117] = isupper, [119] = isalnum, [120] = isxdigit,
}

local function match_class(c, cl)
  local lower = cl
  if isupper(cl) then lower = cl + 32 end
  local f = CLASSES[lower]
  if f == nil then return cl == c end
  local res = f(c)
  if isupper(cl) then return not res end
  return res
end

-- A match state: src (string), slen, pat (string), plen, level, capture init/len arrays, depth.
-- Positions are 1-based byte indexes; a position one past the end is slen + 1.

local function class_end(ms, p)
  local pat, plen = ms.pat, ms.plen
  local c = sbyte(pat, p)
  p = p + 1
  if c == L_ESC then
    if p > plen then error("malformed pattern (ends with '%')", 1) end
    return p + 1
  elseif c == B["["] then
    if sbyte(pat, p) == B["^"] then p = p + 1 end
    repeat -- look for a ']'
      if p > plen then error("malformed pattern (missing ']')", 1) end
      c = sbyte(pat, p)
      p = p + 1
      if c == L_ESC and p <= plen then p = p + 1 end
    until sbyte(pat, p) == B["]"]
    return p + 1
  end
  return p
end

-- p at '[', ec at the closing ']'.
local function match_bracket_class(ms, c, p, ec)
  local pat = ms.pat
  local sig = true
  if sbyte(pat, p + 1) == B["^"] then
    sig = false
    p = p + 1
  end
  p = p + 1
  while p < ec do
    local pc = sbyte(pat, p)
    if pc == L_ESC then
      p = p + 1
      if match_class(c, sbyte(pat, p)) then return sig end
    elseif sbyte(pat, p + 1) == B["-"] and p + 2 < ec then
      p = p + 2
      if pc <= c and c <= sbyte(pat, p) then return sig end
    elseif pc == c then
      return sig
    end
    p = p + 1
  end
  return not sig
end

local function single_match(ms, s, p, ep)
  if s > ms.slen then return false end
  local c = sbyte(ms.src, s)
  local pc = sbyte(ms.pat, p)
  if pc == B["."] then return true
  elseif pc == L_ESC then return match_class(c, sbyte(ms.pat, p + 1))
  elseif pc == B["["] then return match_bracket_class(ms, c, p, ep - 1)
  end
  return pc == c
end

local match

local function match_balance(ms, s, p)
  if p >= ms.plen then error("malformed pattern (missing arguments to '%b')", 1) end
  if s > ms.slen or sbyte(ms.src, s) ~= sbyte(ms.pat, p) then return nil end
  local b, e = sbyte(ms.pat, p), sbyte(ms.pat, p + 1)
  local cont = 1
  s = s + 1
  while s <= ms.slen do
    local c = sbyte(ms.src, s)
    if c == e then
      cont = cont - 1
      if cont == 0 then return s + 1 end
    elseif c == b then
      cont = cont + 1
    end
    s = s + 1
  end
  return nil
end

local function max_expand(ms, s, p, ep)
  local i = 0
  while single_match(ms, s + i, p, ep) do i = i + 1 end
  while i >= 0 do
    local res = match(ms, s + i, ep + 1)
    if res then return res end
    i = i - 1
  end
  return nil
end

local function min_expand(ms, s, p, ep)
  while true do
    local res = match(ms, s, ep + 1)
    if res then return res end
    if single_match(ms, s, p, ep) then s = s + 1 else return nil end
  end
end

local function start_capture(ms, s, p, what)
  local level = ms.level + 1
  if level > MAXCAPTURES then error("too many captures", 1) end
  ms.cinit[level] = s
  ms.clen[level] = what
  ms.level = level
  local res = match(ms, s, p)
  if res == nil then ms.level = ms.level - 1 end
  return res
end

local function end_capture(ms, s, p)
  local l = nil
  for level = ms.level, 1, -1 do
    if ms.clen[level] == CAP_UNFINISHED then l = level break end
  end
  if l == nil then error("invalid pattern capture", 1) end
  ms.clen[l] = s - ms.cinit[l]
  local res = match(ms, s, p)
  if res == nil then ms.clen[l] = CAP_UNFINISHED end
  return res
end

local function match_capture(ms, s, digit)
  local l = digit - B["0"]
  if l < 1 or l > ms.level or ms.clen[l] == CAP_UNFINISHED then
    error(sformat("invalid capture index %%%d", l), 1)
  end
  local len = ms.clen[l]
  if len < 0 then return nil end -- a position capture: C compares (size_t)-2 bytes, never true
  if ms.slen - s + 1 >= len and ssub(ms.src, ms.cinit[l], ms.cinit[l] + len - 1)
      == ssub(ms.src, s, s + len - 1) then
    return s + len
  end
  return nil
end

function match(ms, s, p)
  if ms.depth == 0 then error("pattern too complex", 1) end
  ms.depth = ms.depth - 1
  local pat, plen = ms.pat, ms.plen
  while true do
    if p > plen then break end
    local pc = sbyte(pat, p)
    local dflt = false
    if pc == B["("] then
      if sbyte(pat, p + 1) == B[")"] then
        s = start_capture(ms, s, p + 2, CAP_POSITION)
      else
        s = start_capture(ms, s, p + 1, CAP_UNFINISHED)
      end
      break
    elseif pc == B[")"] then
      s = end_capture(ms, s, p + 1)
      break
    elseif pc == B["$"] and p == plen then
      if s ~= ms.slen + 1 then s = nil end
      break
    elseif pc == L_ESC then
      local nc = sbyte(pat, p + 1)
      if nc == B.b then
        s = match_balance(ms, s, p + 2)
        if s == nil then break end
        p = p + 4
      elseif nc == B.f then
        p = p + 2
        if sbyte(pat, p) ~= B["["] then error("missing '[' after '%f' in pattern", 1) end
        local ep = class_end(ms, p)
        local previous = (s == 1) and 0 or sbyte(ms.src, s - 1)
        local current = (s > ms.slen) and 0 or sbyte(ms.src, s)
        if not match_bracket_class(ms, previous, p, ep - 1)
            and match_bracket_class(ms, current, p, ep - 1) then
          p = ep
        else
          s = nil
          break
        end
      elseif nc ~= nil and nc >= B["0"] and nc <= B["9"] then
        s = match_capture(ms, s, nc)
        if s == nil then break end
        p = p + 2
      else
        dflt = true
      end
    else
      dflt = true
    end
    if dflt then
      local ep = class_end(ms, p)
      local epc = sbyte(pat, ep)
      if not single_match(ms, s, p, ep) then
        if epc == B["*"] or epc == B["?"] or epc == B["-"] then
          p = ep + 1
        else
          s = nil
          break
        end
      elseif epc == B["?"] then
        local res = match(ms, s + 1, ep + 1)
        if res then
          s = res
          break
        end
        p = ep + 1
      elseif epc == B["+"] then
        s = max_expand(ms, s + 1, p, ep)
        break
      elseif epc == B["*"] then
        s = max_expand(ms, s, p, ep)
        break
      elseif epc == B["-"] then
        s = min_expand(ms, s, p, ep)
        break
      else
        s = s + 1
        p = ep
      end
    end
  end
  ms.depth = ms.depth + 1
  return s
end

local function new_state(src, pat, p0)
  return { src = src, slen = #src, pat = pat, plen = #pat, p0 = p0, level = 0, cinit = {},
    clen = {}, depth = MAXCCALLS }
end

local function reprep(ms)
  ms.level = 0
  ms.depth = MAXCCALLS
end

-- Capture i (1-based) of a match s..e-1.
local function get_capture(ms, i, s, e)
  if i > ms.level then
    if i ~= 1 then error(sformat("invalid capture index %%%d", i), 1) end
    return ssub(ms.src, s, e - 1)
  end
  local l = ms.clen[i]
  if l == CAP_UNFINISHED then error("unfinished capture", 1) end
  if l == CAP_POSITION then return ms.cinit[i] end
  return ssub(ms.src, ms.cinit[i], ms.cinit[i] + l - 1)
end

local function captures(ms, s, e, whole)
  local n = (ms.level == 0 and whole) and 1 or ms.level
  local out = {}
  for i = 1, n do out[i] = get_capture(ms, i, s, e) end
  return unpack(out, 1, n)
end

local function check_string(v, n, fname)
  local tv = type(v)
  if tv == "string" then return v end
  if tv == "number" then return tostring(v) end
  error(sformat("bad argument #%d to '%s' (string expected, got %s)", n, fname,
    v == nil and "no value" or tv), 1)
end

local function check_int(v, n, fname, default)
  if v == nil then return default end
  local i = tonumber(v)
  if i ~= nil then i = tointeger(i) end
  if i == nil then
    error(sformat("bad argument #%d to '%s' (number has no integer representation)", n, fname), 1)
  end
  return i
end

local function posrelat(pos, len)
  if pos > 0 then return pos
  elseif pos == 0 then return 1
  elseif pos < -len then return 1
  end
  return len + pos + 1
end

-- lstrlib's SPECIALS: a find pattern without any of them is searched for plainly.
local SPECIALS = "[%^%$%*%+%?%.%(%[%%%-]"

local function find_aux(find, s, p, init, plain)
  local fname = find and "find" or "match"
  s = check_string(s, 1, fname)
  p = check_string(p, 2, fname)
  local ls = #s
  init = posrelat(check_int(init, 3, fname, 1), ls)
  if init > ls + 1 then return nil end
  if find and (plain or not sfind(p, SPECIALS)) then
    -- Plain search, written out so that it runs under the hook too.
    local lp = #p
    if lp == 0 then return init, init - 1 end
    local first = sbyte(p, 1)
    for i = init, ls - lp + 1 do
      if sbyte(s, i) == first and ssub(s, i, i + lp - 1) == p then return i, i + lp - 1 end
    end
    return nil
  end
  local anchor = sbyte(p, 1) == B["^"]
  local p0 = anchor and 2 or 1
  local ms = new_state(s, p, p0)
  local s1 = init
  repeat
    reprep(ms)
    local e = match(ms, s1, p0)
    if e ~= nil then
      if find then
        if ms.level == 0 then return s1, e - 1 end
        return s1, e - 1, captures(ms, nil, 0, false)
      end
      return captures(ms, s1, e, true)
    end
    s1 = s1 + 1
  until s1 > ls + 1 or anchor
  return nil
end

local M = {}

function M.find(s, p, init, plain)
  return find_aux(true, s, p, init, plain)
end

function M.match(s, p, init)
  return find_aux(false, s, p, init, false)
end

function M.gmatch(s, p, init)
  s = check_string(s, 1, "gmatch")
  p = check_string(p, 2, "gmatch")
  local ls = #s
  init = posrelat(check_int(init, 3, "gmatch", 1), ls)
  if init > ls + 1 then init = ls + 2 end -- start after the end: no match at all
  local ms = new_state(s, p, 1)
  local src, lastmatch = init, nil
  return function()
    while src <= ls + 1 do
      reprep(ms)
      local e = match(ms, src, 1)
      if e ~= nil and e ~= lastmatch then
        local start = src
        src, lastmatch = e, e
        return captures(ms, start, e, true)
      end
      src = src + 1
    end
    return nil
  end
end

local function add_s(ms, out, s, e, news)
  local i, l = 1, #news
  while i <= l do
    local j = sfind(news, "%", i, true)
    if j == nil then
      out[#out + 1] = ssub(news, i)
      return
    end
    out[#out + 1] = ssub(news, i, j - 1)
    local c = sbyte(news, j + 1)
    if c == L_ESC then
      out[#out + 1] = "%"
    elseif c == B["0"] then
      out[#out + 1] = ssub(ms.src, s, e - 1)
    elseif c ~= nil and isdigit(c) then
      local v = get_capture(ms, c - B["0"], s, e)
      out[#out + 1] = tostring(v)
    else
      error("invalid use of '%' in replacement string", 1)
    end
    i = j + 2
  end
end

function M.gsub(s, p, repl, max_n)
  s = check_string(s, 1, "gsub")
  p = check_string(p, 2, "gsub")
  local tr = type(repl)
  if not (tr == "number" or tr == "string" or tr == "function" or tr == "table") then
    error(sformat("bad argument #3 to 'gsub' (string/function/table expected, got %s)",
      repl == nil and "no value" or tr), 1)
  end
  if tr == "number" then repl, tr = tostring(repl), "string" end
  local ls = #s
  max_n = check_int(max_n, 4, "gsub", ls + 1)
  local anchor = sbyte(p, 1) == B["^"]
  local p0 = anchor and 2 or 1
  local ms = new_state(s, p, p0)
  local src, lastmatch, n, changed = 1, nil, 0, false
  local out = {}
  while n < max_n do
    reprep(ms)
    local e = match(ms, src, p0)
    if e ~= nil and e ~= lastmatch then
      n = n + 1
      local value
      if tr == "string" then
        add_s(ms, out, src, e, repl)
        changed = true
      else
        if tr == "function" then
          value = repl(captures(ms, src, e, true))
        else
          value = repl[get_capture(ms, 1, src, e)]
        end
        if not value then
          out[#out + 1] = ssub(s, src, e - 1)
        elseif type(value) ~= "string" and type(value) ~= "number" then
          error(sformat("invalid replacement value (a %s)", type(value)), 1)
        else
          out[#out + 1] = tostring(value)
          changed = true
        end
      end
      src, lastmatch = e, e
    elseif src <= ls then
      out[#out + 1] = ssub(s, src, src)
      src = src + 1
    else
      break
    end
    if anchor then break end
  end
  if not changed then return s, n end
  out[#out + 1] = ssub(s, src)
  return concat(out), n
end

return M
