-- The kit's own Lua: loaded once per Lua state, before any application code.
--
-- It captures every standard function it needs as a local first, so nothing application code
-- does to its own globals can reach the kit. Application code never sees this chunk's locals:
-- it runs in per-entry environment tables built by `kit.new_env`.
--
-- Scheduling contract with Python (runtime/scheduler.py): a task is a Lua table
-- `{co = coroutine, budget = budget, ctx = context table}`; Python calls `kit.step(task, ...)`
-- which resumes it and answers one of:
--   "yield", op, a, b, c   the task is blocked on a scheduler operation
--   "done", ...            the task's function returned
--   "error", err, trace    the task raised
-- Operations yield `SCHED, op, ...` so that they pass through coroutines created by
-- application code (see `resume` below) and always reach the scheduler.

local kit = {}
-- find, match, gmatch and gsub in Lua (runtime/lua/patterns.lua), passed by runtime/sandbox.py.
local lua_patterns = ...

local type, error, pairs, ipairs, next, select = type, error, pairs, ipairs, next, select
local tostring, tonumber, setmetatable, getmetatable = tostring, tonumber, setmetatable, getmetatable
local rawget, rawset, rawequal, rawlen = rawget, rawset, rawequal, rawlen
local raw_pcall, raw_xpcall, raw_load, assert = pcall, xpcall, load, assert
local co_create, co_resume, co_yield = coroutine.create, coroutine.resume, coroutine.yield
local co_status, co_running, co_isyieldable, co_close = coroutine.status, coroutine.running,
  coroutine.isyieldable, coroutine.close
local sethook, gethook, traceback, getinfo = debug.sethook, debug.gethook, debug.traceback,
  debug.getinfo
local pack, unpack, concat, insert = table.pack, table.unpack, table.concat, table.insert
local sfind, sformat, ssub, srep = string.find, string.format, string.sub, string.rep
local c_gmatch = string.gmatch
local os_date, os_time, os_clock = os.date, os.time, os.clock
local math_floor, math_type = math.floor, math.type

local SCHED = setmetatable({}, { __metatable = false, __tostring = function() return "sched" end })
local RAISE = setmetatable({}, { __metatable = false })
kit.RAISE = RAISE

-- The task being resumed right now. Only one task runs at a time; `step` sets and clears it, so
-- task-local data (budget, call context) follows the task across yields.
local current = nil

---------------------------------------------------------------------------------------------
-- Instruction budget: a count hook on every coroutine that runs application code. The budget
-- belongs to the task, not to the coroutine, so coroutines created by user code draw from the
-- same budget instead of multiplying it.
---------------------------------------------------------------------------------------------
local HOOK_STEP = 1000

--- Draw `n` instructions from the running task's budget; over it, raise at `level`.
local function spend(n, level)
  local task = current
  if task == nil then return end
  local b = task.budget
  b.used = b.used + n
  if b.used > b.limit then
    b.exhausted = b.message
    error(b.message, level)
  end
end

-- CPU time: one VM instruction can copy a multi-megabyte string (`s .. "y"`), so a loop of them
-- stays under any instruction count a useful call needs while running for hours. The task's
-- CPU seconds are summed over its resumes (time a task spends parked costs nothing) and checked
-- on every hook, so such a loop stops within one hook interval of its limit. os.clock here is
-- the C clock() captured before application code could touch it.
local function cpu_start(b)
  if b.depth == 0 then b.resumed_at = os_clock() end
  b.depth = b.depth + 1
end

local function cpu_stop(b)
  b.depth = b.depth - 1
  if b.depth == 0 then b.cpu_used = b.cpu_used + (os_clock() - b.resumed_at) end
end

local function budget_hook()
  spend(HOOK_STEP, 3) -- at the line of the function the hook interrupted
  local task = current
  if task == nil then return end
  local b = task.budget
  if b.cpu_limit ~= nil and b.depth > 0
      and b.cpu_used + (os_clock() - b.resumed_at) > b.cpu_limit then
    b.exhausted = b.cpu_message
    error(b.cpu_message, 2)
  end
end

--- A budget of `limit` instructions and, unless nil, `cpu_seconds` of CPU time. `exhausted`
--- holds the message of the limit that ran out (false while none has).
function kit.new_budget(limit, cpu_seconds)
  return {
    limit = limit,
    used = 0,
    exhausted = false,
    message = sformat("instruction budget exceeded (%d instructions)", limit),
    cpu_limit = cpu_seconds,
    cpu_used = 0,
    depth = 0,
    resumed_at = 0,
    cpu_message = cpu_seconds and sformat("CPU time limit exceeded (%g s)", cpu_seconds),
  }
end

--- Charge `seconds` of CPU the task's operations took outside Lua (runtime/scheduler.py).
function kit.charge_cpu(task, seconds)
  local b = task.budget
  if b ~= nil then b.cpu_used = b.cpu_used + seconds end
end

--- Start a budget over (a new message of a turn, a new workflow step).
function kit.reset_budget(b)
  b.used, b.cpu_used, b.exhausted = 0, 0, false
  -- Reset mid-resume (the next message of an actor's turn): that message's clock starts now.
  if b.depth > 0 then b.resumed_at = os_clock() end
end

local function install_hook(co)
  sethook(co, budget_hook, "", HOOK_STEP)
end

--- Draw `n` instructions from the running task's budget at once. C library functions run
--- without the count hook firing (one VM instruction however long they take), so the ones whose
--- work grows with their input (collectgarbage, table.move, big strings, pattern matching) charge
--- what they will do up front; otherwise a loop of them runs for hours on a small budget.
local function charge(n)
  spend(n, 4) -- at the line of the application code that called the charging function
end
kit.charge = charge

--- Run `fn(...)` on a hooked coroutine under a budget of its own, for the kit's code that must
--- touch a value application code made (its __tostring, __index, __concat...) from outside any
--- task: unhooked, a metamethod that loops would hang the worker. Returns ok, results.
local GUARD_BUDGET, GUARD_CPU_SECONDS = 1000000, 1
local function guarded(fn, ...)
  local co = co_create(fn)
  install_hook(co)
  local previous = current
  local budget = kit.new_budget(GUARD_BUDGET, GUARD_CPU_SECONDS)
  budget.message = "a metamethod of an application value ran too long"
  budget.cpu_message = budget.message
  current = { budget = budget, ctx = {} }
  cpu_start(budget)
  local r = pack(co_resume(co, ...))
  cpu_stop(budget)
  current = previous
  if r[1] and co_status(co) ~= "dead" then return false, "yielded" end
  return unpack(r, 1, r.n)
end
kit.guarded = guarded

-- Errors that application code must not be able to swallow with pcall: once the budget is spent
-- or memory ran out, the unit is over.
-- process.exit(value) unwinds the handler with this marker; like the budget, pcall cannot stop it.
local EXIT_KEY = setmetatable({}, { __metatable = false })

local function is_exit_signal(err)
  return type(err) == "table" and rawget(err, EXIT_KEY) == true
end

local function fatal_error(err)
  local task = current
  if task ~= nil and task.budget.exhausted then return task.budget.exhausted end
  if err == "not enough memory" then return err end
  if is_exit_signal(err) then return err end
  return nil
end

local function after_protected(ok, ...)
  if not ok then
    local fatal = fatal_error((...))
    if fatal then error(fatal, 0) end
  end
  return ok, ...
end

local function safe_pcall(f, ...)
  return after_protected(raw_pcall(f, ...))
end

local function safe_xpcall(f, handler, ...)
  return after_protected(raw_xpcall(f, handler, ...))
end

---------------------------------------------------------------------------------------------
-- Coroutines for application code: scheduler operations pass through them transparently.
---------------------------------------------------------------------------------------------
local function pass_through(co, ok, ...)
  if ok and co_status(co) == "suspended" and rawequal((...), SCHED) then
    -- An operation from inside the user's coroutine: forward it to the scheduler, then give
    -- the answer back to the coroutine and keep going.
    return pass_through(co, co_resume(co, co_yield(...)))
  end
  if not ok then
    local fatal = fatal_error((...))
    if fatal then error(fatal, 0) end
  end
  return ok, ...
end

-- Coroutines the scheduler runs (tasks, and what coroutine.spawn started): application code
-- may look at them, never resume them.
local managed = setmetatable({}, { __mode = "k" })

local function user_resume(co, ...)
  if managed[co] then
    error("coroutine.resume: this coroutine was started by coroutine.spawn and runs on its own", 2)
  end
  return pass_through(co, co_resume(co, ...))
end

local function user_create(f)
  if type(f) ~= "function" then error("coroutine.create: expected a function", 2) end
  local co = co_create(f)
  install_hook(co)
  return co
end

local function user_wrap(f)
  local co = user_create(f)
  return function(...)
    local r = pack(user_resume(co, ...))
    if not r[1] then error(r[2], 0) end
    return unpack(r, 2, r.n)
  end
end

--- coroutine.spawn(fn) (Wippy's): run `fn` concurrently within this unit; returns its thread.
local function user_spawn(fn)
  if type(fn) ~= "function" then
    error("bad argument #1 to spawn (function expected, got " .. type(fn) .. ")", 2)
  end
  local task = current
  if task == nil then error("coroutine.spawn must run inside a unit", 2) end
  local child = kit.new_task(fn, task.budget, task.ctx)
  child.durable = task.durable
  kit.await("spawn", child)
  return child.co
end

local user_coroutine = {
  create = user_create,
  resume = user_resume,
  spawn = user_spawn,
  wrap = user_wrap,
  yield = co_yield,
  status = co_status,
  running = co_running,
  isyieldable = co_isyieldable,
  close = co_close,
}

local function check_answer(a, ...)
  if rawequal(a, RAISE) then error((...), 3) end
  return a, ...
end

--- Block the running task on a scheduler operation and return the scheduler's answer.
local function await(op, ...)
  if current == nil then error("this call must run inside a unit", 2) end
  return check_answer(co_yield(SCHED, op, ...))
end
kit.await = await

---------------------------------------------------------------------------------------------
-- Tasks, driven from Python.
---------------------------------------------------------------------------------------------
function kit.new_task(fn, budget, ctx)
  local co = co_create(fn)
  install_hook(co)
  managed[co] = true
  return { co = co, budget = budget, ctx = ctx or {} }
end

--- Any value as text, its __tostring run guarded (see `guarded`); never raises.
local function safe_text(v)
  local tv = type(v)
  if tv == "string" then return v end
  if tv ~= "table" and tv ~= "userdata" then return tostring(v) end
  local ok, text = guarded(tostring, v)
  if ok and type(text) == "string" then return text end
  return "(an error value whose __tostring failed: " .. (type(text) == "string" and text or tv) .. ")"
end
kit.safe_text = safe_text

--- The text of any error value for tracebacks and logs (an error object reads
--- "Kind: message", or its message when it has no kind).
local function error_text(err)
  if type(err) == "table" and getmetatable(err) == "error" and rawget(err, "kind_") ~= nil then
    local kind = rawget(err, "kind_")
    if kind == "" then return safe_text(rawget(err, "message_")) end
    return safe_text(kind) .. ": " .. safe_text(rawget(err, "message_"))
  end
  return safe_text(err)
end

local function finish_step(previous, task, ok, ...)
  -- Steps nest when Python compiles an entry on demand from inside a running task.
  cpu_stop(task.budget)
  current = previous
  local co = task.co
  if ok then
    if co_status(co) == "dead" then return "done", ... end
    if rawequal((...), SCHED) then return "yield", select(2, ...) end
    return "error", "coroutine.yield called outside a coroutine created by the application", nil
  end
  local err = ...
  local msg = error_text(err)
  -- Out of memory, even a traceback cannot be built; the message says all there is.
  local ok_trace, trace = pcall(traceback, co, msg)
  return "error", err, ok_trace and trace or msg
end

function kit.step(task, ...)
  local previous = current
  current = task
  cpu_start(task.budget)
  return finish_step(previous, task, co_resume(task.co, ...))
end

--- Where a task's coroutine stands (a traceback), for errors that name the Lua line.
function kit.where(task)
  return traceback(task.co, "", 0)
end

function kit.current_task()
  return current
end

---------------------------------------------------------------------------------------------
-- Errors as values (Wippy's `errors`): err:kind(), :message(), :retryable(), :details(),
-- :stack(). The `errors` global that makes them is runtime/modules/errors_module.py.
---------------------------------------------------------------------------------------------
-- Kinds as Wippy spells them; the kit's own code may name them by constant (INVALID).
local KIND_VALUES = {
  UNKNOWN = "", INVALID = "Invalid", NOT_FOUND = "NotFound", ALREADY_EXISTS = "AlreadyExists",
  PERMISSION_DENIED = "PermissionDenied", UNAVAILABLE = "Unavailable", INTERNAL = "Internal",
  CANCELED = "Canceled", CONFLICT = "Conflict", TIMEOUT = "Timeout", RATE_LIMITED = "RateLimited",
}
kit.KIND_VALUES = KIND_VALUES

local function is_error(v)
  return type(v) == "table" and getmetatable(v) == "error" and rawget(v, "kind_") ~= nil
end
kit.is_error = is_error

--- A copy of a details table: string keys only, arrays kept, other values as text (as
--- Wippy keeps an error's details: plain data, never a live reference).
local function copy_details(t, depth)
  if depth > 32 then return nil end
  local out, n = {}, 0
  local array = rawlen(t) > 0
  for k, v in next, t do
    if type(k) == "string" or (array and math_type(k) == "integer") then
      local tv = type(v)
      if tv == "table" then
        v = copy_details(v, depth + 1)
      elseif tv ~= "string" and tv ~= "number" and tv ~= "boolean" then
        v = safe_text(v)
      end
      out[k] = v
      n = n + 1
    end
  end
  if n == 0 and depth == 0 then return nil end
  return out
end
kit.copy_details = copy_details

local error_mt = { __metatable = "error" }
local error_methods = {}
error_mt.__index = error_methods
-- Methods answer for any receiver, as Wippy's do: err.kind() (no self) is the empty kind.
function error_methods.kind(self)
  return is_error(self) and rawget(self, "kind_") or ""
end
function error_methods.message(self)
  return is_error(self) and rawget(self, "message_") or ""
end
function error_methods.retryable(self)
  if not is_error(self) then return nil end
  return rawget(self, "retryable_")
end
function error_methods.details(self)
  local d = is_error(self) and rawget(self, "details_")
  if type(d) ~= "table" then return nil end
  return copy_details(d, 0)
end
function error_methods.stack(self)
  local s = is_error(self) and rawget(self, "stack_")
  return type(s) == "string" and s or ""
end
-- tostring(err) is the message, as in Wippy; `..` takes an error's message.
error_mt.__tostring = function(self) return tostring(rawget(self, "message_")) end
local function concat_part(v)
  if type(v) == "string" or type(v) == "number" then return v end
  if is_error(v) then return tostring(rawget(v, "message_")) end
  return tostring(v)
end
error_mt.__concat = function(a, b) return concat_part(a) .. concat_part(b) end
kit.error_mt = error_mt

--- A new error value. `kind` may be a kind ("NotFound") or its constant name ("NOT_FOUND").
function kit.new_error(kind, message, details, retryable, stack, frames)
  if kind == nil then kind = "" end
  kind = KIND_VALUES[kind] or kind
  if type(details) == "table" then details = copy_details(details, 0) else details = nil end
  return setmetatable({
    kind_ = kind, message_ = message, details_ = details, retryable_ = retryable,
    stack_ = stack, frames_ = frames,
  }, error_mt)
end

--- The Lua frames above the caller's `level`, as Wippy's errors.call_stack lists them, and
--- the same as text for err:stack().
local MAX_FRAMES = 64
function kit.capture_stack(level, context)
  local frames, lines = {}, {}
  if context ~= nil then lines[1] = context end
  for l = level, level + MAX_FRAMES do
    local info = getinfo(l, "Sln")
    if info == nil then break end
    if info.what ~= "C" and sfind(info.short_src, "^%[kit%]") == nil then
      local frame = {
        level = #frames + 1, source = info.short_src, line = info.currentline,
        name = info.name or "", type = info.what,
      }
      frames[#frames + 1] = frame
      lines[#lines + 1] = sformat("  %s:%d (%s)", frame.source, frame.line, frame.name)
    end
  end
  return concat(lines, "\n"), frames
end

--- Describe any error value for Python: kind, message, retryable, details (a table or nil).
function kit.describe_error(err)
  -- Application code can rawset any value into an error's fields: text only, made guarded.
  if type(err) == "table" and rawget(err, "kind_") ~= nil then
    local kind = rawget(err, "kind_")
    local retryable = rawget(err, "retryable_")
    if type(retryable) ~= "boolean" then retryable = nil end
    local details = rawget(err, "details_")
    return type(kind) == "string" and kind or nil, safe_text(rawget(err, "message_")), retryable,
      type(details) == "table" and details or nil
  end
  return nil, safe_text(err), nil, nil
end

---------------------------------------------------------------------------------------------
-- The sandboxed environment of one entry.
---------------------------------------------------------------------------------------------
local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

local safe_string = copy(string)
safe_string.dump = nil
local safe_table = copy(table)

-- C library functions run without the count hook firing: one VM instruction, however long
-- they take. Most are bounded by the memory ceiling (a string or a table can only be so big),
-- like `..` itself; these are not, and are replaced: pattern matching (backtracking),
-- table.move (a range of any length) and collectgarbage (below: a cycle walks the whole state).
local slen = string.len
local C = {
  find = string.find, match = string.match, gmatch = string.gmatch, gsub = string.gsub,
  move = table.move,
}

--- The worst case of Lua's backtracking matcher over `n` bytes: a quantifier (or %b, or a
--- back reference) can try every position for each position the one before it tried.
local MAX_C_PATTERN_STEPS = 1 << 22
local function quantifiers(p)
  local k = 0
  for _ in c_gmatch(p, "[%*%+%-%?]") do k = k + 1 end
  for _ in c_gmatch(p, "%%[b1-9]") do k = k + 1 end
  return k
end
local function pattern_steps(n, p, k)
  if k == 0 then return (n + 1.0) * (slen(p) + 1) end
  return (n + 1.0) ^ (k + 1)
end

-- The fast path: every instruction counts twice under the count hook, so a pattern's longest
-- subject that needs no charge (at most CHEAP_STEPS, a few microseconds of C) is cached per
-- pattern; patterns are mostly literals used over and over. Dropped whole when it grows, as
-- strings are never weak keys.
local CHEAP_STEPS = 4096
local cheap_len, cheap_count = {}, 0

--- Whether matching `p` over `s` must run on the Lua matcher (under the budget); if not, its
--- worst case is charged and the C one runs.
local function in_lua(s, p)
  if type(s) == "number" then s = tostring(s) end
  if type(p) == "number" then p = tostring(p) end
  if type(s) ~= "string" or type(p) ~= "string" then return false end -- C says what is wrong
  local k = quantifiers(p)
  if cheap_count >= 512 then cheap_len, cheap_count = {}, 0 end
  if k == 0 then
    cheap_len[p] = CHEAP_STEPS // (slen(p) + 1) - 1
  else
    cheap_len[p] = math_floor(CHEAP_STEPS ^ (1 / (k + 1))) - 1
  end
  cheap_count = cheap_count + 1
  local steps = pattern_steps(slen(s), p, k)
  if steps > MAX_C_PATTERN_STEPS then return true end
  spend(math_floor(steps) // 64, 4) -- at the caller of string.find & co.
  return false
end

-- The C functions are called as fields of C so that their argument errors name 'find' etc.
function safe_string.find(s, p, init, plain)
  local cheap = cheap_len[p]
  if cheap ~= nil and type(s) == "string" and #s <= cheap then return C.find(s, p, init, plain) end
  if in_lua(s, p) then return lua_patterns.find(s, p, init, plain) end
  return C.find(s, p, init, plain)
end
function safe_string.match(s, p, init)
  local cheap = cheap_len[p]
  if cheap ~= nil and type(s) == "string" and #s <= cheap then return C.match(s, p, init) end
  if in_lua(s, p) then return lua_patterns.match(s, p, init) end
  return C.match(s, p, init)
end
function safe_string.gmatch(s, p, init)
  local cheap = cheap_len[p]
  if cheap ~= nil and type(s) == "string" and #s <= cheap then return C.gmatch(s, p, init) end
  if in_lua(s, p) then return lua_patterns.gmatch(s, p, init) end
  return C.gmatch(s, p, init)
end
function safe_string.gsub(s, p, repl, n)
  local cheap = cheap_len[p]
  if cheap ~= nil and type(s) == "string" and #s <= cheap then return C.gsub(s, p, repl, n) end
  if in_lua(s, p) then return lua_patterns.gsub(s, p, repl, n) end
  return C.gsub(s, p, repl, n)
end

local math_tointeger = math.tointeger
function safe_table.move(a1, f, e, t, a2)
  -- As the C function reads them (integral floats and numeric strings are integers too).
  local first, last = tonumber(f), tonumber(e)
  first, last = first and math_tointeger(first), last and math_tointeger(last)
  if first ~= nil and last ~= nil and last >= first then
    charge(math_floor((last + 0.0) - first + 1))
  end
  return C.move(a1, f, e, t, a2)
end
local safe_math = copy(math)
local safe_utf8 = copy(utf8)

-- Strings share one metatable; hide it so application code cannot swap its methods.
local string_mt = getmetatable("")
string_mt.__metatable = false
-- Its __index was the standard `string` table itself, so ("").dump reached string.dump (and
-- ("").rep the unmetered rep): methods on strings are the sandbox's string functions.
string_mt.__index = safe_string

local function safe_getmetatable(v)
  return getmetatable(v)
end

-- Lua runs finalizers with debug hooks off, on whatever thread the collector happens to run
-- (often the kit's, from Python): a __gc that loops hangs the worker beyond any budget. An
-- object is marked for finalization only if its metatable has __gc when it is set, so refusing
-- that here is enough (adding __gc to the metatable later marks nothing).
local function safe_setmetatable(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("setmetatable: __gc metamethods are not available (finalizers run outside the budget)", 2)
  end
  return setmetatable(t, mt)
end

local function safe_collectgarbage(opt, ...)
  -- Only the read-only and whole-cycle options: tuning the collector from user code could
  -- starve the state other units share.
  if opt == "count" then return collectgarbage(opt) end
  if opt == nil or opt == "collect" or opt == "step" then
    -- A cycle walks the whole state (every entry's data) in one VM instruction: charged by
    -- its size, or a loop of them runs for minutes on any budget.
    charge(1000 + math_floor(collectgarbage("count")) * 8)
    return collectgarbage(opt, ...)
  end
  error("collectgarbage: option '" .. tostring(opt) .. "' is not available", 2)
end

-- What `type` says of the kit's objects: Wippy's are userdata (errors, channels, futures,
-- payloads, times, requests...) and its runtime types are "type"; here they are tables with a
-- named, protected metatable, and application code that asks must get Wippy's answer.
local USERDATA_KINDS = {}
for _, name in ipairs({ "error", "channel", "future", "payload", "message", "executor",
    "duration", "location", "time", "timer", "ticker", "http.Request", "http.Response",
    "http.MultipartFile", "stream.Stream", "stream.Scanner" }) do
  USERDATA_KINDS[name] = true
end
local function wippy_type(v)
  local t = type(v)
  if t == "table" then
    local mt = getmetatable(v)
    if type(mt) == "string" then
      if USERDATA_KINDS[mt] then return "userdata" end
      if mt == "type" then return "type" end
    end
  end
  return t
end
kit.wippy_type = wippy_type

--- Build the environment for an entry.
--- host: { clock_now = fn() -> seconds, entry_id = "ns:name", require = fn(name) -> module,
---         print = fn(...) }
function kit.new_env(host)
  local env = {}
  local function safe_load(chunk, name, mode, chunk_env)
    if type(chunk) ~= "string" then
      return nil, "load: only text chunks are allowed"
    end
    if mode ~= nil and mode ~= "t" then
      return nil, "load: only text chunks are allowed (mode 't')"
    end
    if sfind(chunk, "^\27") then return nil, "load: binary chunks are not allowed" end
    if chunk_env ~= nil and type(chunk_env) ~= "table" then
      return nil, "load: env must be a table"
    end
    return raw_load(chunk, name or "=(load)", "t", chunk_env or env)
  end
  -- Wippy's `os` (its ostime module): the context's clock (the recorded time in a workflow),
  -- the kit's local zone (UTC unless TZ names another) and Wippy's date specifiers, all from
  -- runtime/gotime through kit.time_host. Not C's: the C library's zone is the machine's.
  local function os_arg(v, n, fname, expected)
    if type(v) ~= expected then
      error(sformat("bad argument #%d to '%s' (%s expected, got %s)", n, fname, expected,
        type(v)), 3)
    end
    return v
  end
  local os_safe = {
    time = function(t)
      if t == nil then return math_floor(host.clock_now()) end
      os_arg(t, 1, "time", "table")
      -- As Wippy reads the table: numbers only; the date defaults to today, the clock to 0.
      local function field(k, default)
        local v = rawget(t, k)
        if type(v) == "number" then return kit.int_arg(v, "os.time: field '" .. k .. "'", 3) end
        return default
      end
      return kit.time_host.os_time(field("year"), field("month"), field("day"),
        field("hour", 0), field("min", 0), field("sec", 0))
    end,
    clock = function() return kit.time_host.os_clock() end,
    date = function(fmt, t)
      if fmt == nil then fmt = "%c" end
      if type(fmt) == "number" then fmt = tostring(fmt) end
      os_arg(fmt, 1, "date", "string")
      kit.charge(16 * #fmt) -- the specifiers are read in Python (see TEXT_COST)
      if t == nil then
        t = math_floor(host.clock_now())
      else
        t = kit.int_arg(os_arg(t, 2, "date", "number"), "os.date", 2)
      end
      local utc = ssub(fmt, 1, 1) == "!"
      if utc then fmt = ssub(fmt, 2) end
      if fmt == "*t" then
        local y, mo, d, h, mi, s, wday, yday, isdst = kit.time_host.os_fields(t, utc)
        return { year = y, month = mo, day = d, hour = h, min = mi, sec = s, wday = wday,
          yday = yday, isdst = isdst }
      end
      return kit.time_host.os_format(fmt, t, utc)
    end,
    difftime = function(t2, t1)
      return (os_arg(t2, 1, "difftime", "number") - os_arg(t1, 2, "difftime", "number")) + 0.0
    end,
    platform = "wippy",
  }
  env.assert = assert
  env.error = error
  env.ipairs = ipairs
  env.next = next
  env.pairs = pairs
  env.pcall = safe_pcall
  env.xpcall = safe_xpcall
  env.rawequal = rawequal
  env.rawget = rawget
  env.rawset = rawset
  env.rawlen = rawlen
  env.select = select
  env.setmetatable = safe_setmetatable
  env.getmetatable = safe_getmetatable
  env.tonumber = tonumber
  env.tostring = tostring
  env.type = wippy_type
  env.collectgarbage = safe_collectgarbage
  env.load = safe_load
  env.string = copy(safe_string)
  env.table = copy(safe_table)
  env.math = copy(safe_math)
  env.utf8 = copy(safe_utf8)
  env.coroutine = copy(user_coroutine)
  env.os = os_safe
  env.require = host.require
  env.channel = host.channel
  env.process = host.process
  env.errors = host.errors
  env.payload = host.payload
  env.unpack = unpack
  env.print = host.print
  env._G = env
  env._VERSION = _VERSION
  -- Typed Lua (runtime/lua/types.lua): the chunk's declared types, and the primitive casts
  -- `string(v)`, `integer(v)`, ... (`string` stays the string library).
  env.__wippy_types = kit.new_types(env)
  setmetatable(env.string, kit.string_type_metatable())
  for _, name in ipairs({ "integer", "number", "boolean", "any", "unknown", "never" }) do
    env[name] = kit.primitive_type(name)
  end
  return env
end

--- Compile application source into a function bound to `env`. Returns fn or nil, message.
function kit.compile(source, chunkname, env)
  if sfind(source, "^\27") then return nil, chunkname .. ": binary chunks are not allowed" end
  local fn, err = raw_load(source, "@" .. chunkname, "t", env)
  return fn, err
end

--- Wrap a Python function so application code only ever holds a Lua closure. The Python side
--- reports an error by returning RAISE, message; it becomes a Lua error at the caller's line.
local function check(a, ...)
  if rawequal(a, RAISE) then error((...), 3) end
  return a, ...
end
function kit.wrap(pyfn)
  return function(...) return check(pyfn(...)) end
end

--- Same, for a table of Python functions (a module's host side).
function kit.wrap_all(t)
  local out = {}
  for k, v in pairs(t) do out[k] = kit.wrap(v) end
  return out
end

---------------------------------------------------------------------------------------------
-- Channels. Buffers and waiters live in Python (runtime/scheduler.py); the Lua object only
-- carries the id. Every blocking operation is a `select` with one or more cases.
---------------------------------------------------------------------------------------------
local channel_mt = { __metatable = "channel" }
local channel_methods = {}
channel_mt.__index = channel_methods
channel_mt.__tostring = function(self) return "channel#" .. self.id_ end

local function new_channel_object(id)
  return setmetatable({ id_ = id }, channel_mt)
end
kit.channel_object = new_channel_object

local function is_channel(v)
  return type(v) == "table" and getmetatable(v) == "channel"
end

function channel_methods:send(v)
  await("select", { { kind = "send", id = self.id_, value = v } }, false)
  return true
end

function channel_methods:receive()
  local _, value, ok = await("select", { { kind = "recv", id = self.id_ } }, false)
  return value, ok
end

function channel_methods:close()
  await("close", self.id_)
  return true
end

function channel_methods:case_receive()
  return { kind = "recv", id = self.id_, channel = self }
end

function channel_methods:case_send(v)
  return { kind = "send", id = self.id_, value = v, channel = self }
end

local function channel_select(cases, default)
  if type(cases) ~= "table" then error("channel.select: expected a list of cases", 2) end
  -- Both of Wippy's forms: channel.select(cases, true) and channel.select{..., default = true}.
  if default == nil then default = rawget(cases, "default") end
  local plain, n = {}, 0
  for _, c in ipairs(cases) do
    -- As in Wippy, what is not a case is passed over.
    if type(c) == "table" and (c.kind == "recv" or c.kind == "send") and c.id ~= nil then
      n = n + 1
      plain[n] = c
    end
  end
  if n == 0 and not default then error("channel.select: no cases", 2) end
  local index, value, ok = await("select", plain, default and true or false)
  if index == 0 then return { default = true, ok = true } end
  local case = plain[index]
  -- A send case reports the value it sent.
  if case.kind == "send" then value = case.value end
  return { channel = case.channel, value = value, ok = ok }
end

function kit.channel_module(new_channel_id)
  return {
    new = function(size)
      size = size or 0
      if math_type(size) ~= "integer" or size < 0 then
        error("channel.new: size must be a non-negative integer", 2)
      end
      return new_channel_object(new_channel_id(size))
    end,
    select = channel_select,
  }
end
kit.is_channel = is_channel

---------------------------------------------------------------------------------------------
-- Durations and times (the `time` module's values), with Go's semantics as Wippy has them.
-- A Duration is a count of nanoseconds; a Time is Unix seconds + nanoseconds + the Location
-- it is shown in; a Location is a key naming a zone. The calendar, zones and layouts are
-- computed in Python (runtime/gotime) through `kit.time_host`, which
-- runtime/modules/time_module.py installs when the engine starts.
-- Like Wippy's userdata they have methods and __tostring only: no arithmetic or ordering
-- operators, and == is identity. Their state lives in private weak tables, so application
-- code can neither forge one nor change it.
---------------------------------------------------------------------------------------------
local NANOS = 1000000000
local ZERO_UNIX = -62135596800 -- Go's zero time, January 1, year 1, UTC
local TIME_STRING_LAYOUT = "2006-01-02 15:04:05.999999999 -0700 MST"
local RFC3339_LAYOUT = "2006-01-02T15:04:05Z07:00"

local function host() return kit.time_host end
-- Python reads layouts, values and duration strings in time linear in their length, which the
-- count hook cannot see: charged up front, as the C functions are.
local TEXT_COST = 16

-- Go's integer division truncates toward zero; Lua's // floors.
local function quot(a, b)
  local q = a // b
  if q < 0 and q * b ~= a then q = q + 1 end
  return q
end

--- An integral argument, as Go's Lua reads one (a float is truncated toward zero).
local function int_arg(v, what, level)
  if math_type(v) == "integer" then return v end
  if type(v) == "number" and v == v and v > -2^63 and v < 2^63 then
    return math_tointeger(v < 0 and -math_floor(-v) or math_floor(v))
  end
  error(what .. ": expected an integer, got " .. (type(v) == "number" and tostring(v) or type(v)),
    level + 1)
end
kit.int_arg = int_arg

local duration_mt = { __metatable = "duration" }
local duration_methods = {}
duration_mt.__index = duration_methods
local duration_ns_of = setmetatable({}, { __mode = "k" })
local function new_duration(ns)
  local d = setmetatable({}, duration_mt)
  duration_ns_of[d] = ns
  return d
end
kit.new_duration = new_duration
local function is_duration(v) return duration_ns_of[v] ~= nil end
kit.is_duration = is_duration
local function ns_of(self, what)
  local ns = duration_ns_of[self]
  if ns == nil then error("duration:" .. what .. ": expected a Duration", 3) end
  return ns
end
function duration_methods:nanoseconds() return ns_of(self, "nanoseconds") end
function duration_methods:microseconds() return quot(ns_of(self, "microseconds"), 1000) end
function duration_methods:milliseconds() return quot(ns_of(self, "milliseconds"), 1000000) end
-- As Go computes them: whole units plus the rest, so large durations keep their precision.
local function in_units(ns, unit)
  local whole = quot(ns, unit)
  return whole + (ns - whole * unit) / unit
end
function duration_methods:seconds() return in_units(ns_of(self, "seconds"), NANOS) end
function duration_methods:minutes() return in_units(ns_of(self, "minutes"), 60 * NANOS) end
function duration_methods:hours() return in_units(ns_of(self, "hours"), 3600 * NANOS) end
duration_mt.__tostring = function(self) return host().duration_string(ns_of(self, "tostring")) end

--- A duration argument as nanoseconds: a Duration, a string read by `parse` ("250ms",
--- "1h30m"), or a number counted in units of `unit_ns` nanoseconds. The unit is the caller's
--- to say: 1 in the `time` module (Wippy's numbers there are nanoseconds), 1000000 in option
--- tables (`with_options({timeout = 5000})` is milliseconds). Negative only when `signed`.
--- Returns ns, or nil and a message.
function kit.duration_ns(d, parse, unit_ns, signed)
  if math_type(unit_ns) ~= "integer" or unit_ns <= 0 then
    error("kit.duration_ns: the unit of a bare number (in nanoseconds) is required", 2)
  end
  local ns = duration_ns_of[d]
  if ns == nil then
    local td = type(d)
    if td == "number" then
      local f = d * 1.0 * unit_ns
      if f ~= f or f >= 2^63 or f <= -2^63 then return nil, "duration out of range: " .. tostring(d) end
      if math_type(d) == "integer" then
        ns = d * unit_ns
      else
        ns = math_tointeger(f < 0 and -math_floor(-f) or math_floor(f))
      end
    elseif td == "string" then
      charge(TEXT_COST * #d)
      local err
      ns, err = parse(d)
      if ns == nil then return nil, err end
    else
      return nil, "expected a duration (a string like '250ms', a number or a Duration), got " .. td
    end
  end
  if ns < 0 and not signed then return nil, "negative duration" end
  return ns
end

local location_mt = { __metatable = "location" }
local location_methods = {}
location_mt.__index = location_methods
local location_of = setmetatable({}, { __mode = "k" })
local function new_location(key, name)
  local loc = setmetatable({}, location_mt)
  location_of[loc] = { key = key, name = name }
  return loc
end
kit.new_location = new_location
local function is_location(v) return location_of[v] ~= nil end
kit.is_location = is_location
function kit.location_key(loc) return location_of[loc].key end
function location_methods:string()
  local l = location_of[self]
  if l == nil then error("location:string: expected a Location", 2) end
  return l.name
end
location_mt.__tostring = function(self) return location_of[self].name end

local UTC_LOC, LOCAL_LOC
local function utc_location()
  if UTC_LOC == nil then UTC_LOC = new_location("UTC", "UTC") end
  return UTC_LOC
end
local function local_location()
  if LOCAL_LOC == nil then LOCAL_LOC = new_location("Local", host().local_name()) end
  return LOCAL_LOC
end
kit.utc_location, kit.local_location = utc_location, local_location

local time_mt = { __metatable = "time" }
local time_methods = {}
time_mt.__index = time_methods
local time_of = setmetatable({}, { __mode = "k" })
local function new_time(sec, nsec, loc)
  local t = setmetatable({}, time_mt)
  time_of[t] = { s = sec, n = nsec, loc = loc }
  return t
end
kit.new_time = new_time
local function is_time(v) return time_of[v] ~= nil end
kit.is_time = is_time
--- A Time at `sec` + `nsec` (any integers: normalised) in the local zone.
function kit.local_time(sec, nsec)
  return new_time(sec + nsec // NANOS, nsec % NANOS, local_location())
end

local function data(self, what, level)
  local d = time_of[self]
  if d == nil then error("time:" .. what .. ": expected a Time", level + 1) end
  return d
end
local function other_time(v, what)
  local d = time_of[v]
  if d == nil then error("time:" .. what .. ": expected a Time, got " .. type(v), 3) end
  return d
end
local function key_of(d) return location_of[d.loc].key end
-- The wall clock, computed once per Time: year, month, day, hour, minute, second, weekday,
-- day of year, zone abbreviation, offset, dst.
local function wall(self, what)
  local d = data(self, what, 3)
  local f = d.f
  if f == nil then
    f = pack(host().fields(d.s, d.n, key_of(d)))
    d.f = f
  end
  return f
end

function time_methods:add(dur)
  local d = data(self, "add", 2)
  local ns, err = kit.duration_ns(dur, host().parse_duration, 1, true)
  if ns == nil then error("time:add: " .. tostring(err), 2) end
  local sec, nsec = d.s + ns // NANOS, d.n + ns % NANOS
  if nsec >= NANOS then sec, nsec = sec + 1, nsec - NANOS end
  return new_time(sec, nsec, d.loc)
end
function time_methods:sub(other)
  local d, o = data(self, "sub", 2), other_time(other, "sub")
  return new_duration(host().sub(d.s, d.n, o.s, o.n))
end
function time_methods:add_date(years, months, days)
  local d = data(self, "add_date", 2)
  local sec, nsec = host().add_date(d.s, d.n, key_of(d), int_arg(years, "time:add_date", 2),
    int_arg(months, "time:add_date", 2), int_arg(days, "time:add_date", 2))
  return new_time(sec, nsec, d.loc)
end
function time_methods:before(other)
  local d, o = data(self, "before", 2), other_time(other, "before")
  return d.s < o.s or (d.s == o.s and d.n < o.n)
end
function time_methods:after(other)
  local d, o = data(self, "after", 2), other_time(other, "after")
  return d.s > o.s or (d.s == o.s and d.n > o.n)
end
function time_methods:equal(other)
  local d, o = data(self, "equal", 2), other_time(other, "equal")
  return d.s == o.s and d.n == o.n
end
function time_methods:format(layout)
  local d = data(self, "format", 2)
  if type(layout) == "number" then layout = tostring(layout) end
  if type(layout) ~= "string" then error("time:format: expected a layout string", 2) end
  charge(TEXT_COST * #layout)
  return host().format(d.s, d.n, key_of(d), layout)
end
function time_methods:format_rfc3339()
  local d = data(self, "format_rfc3339", 2)
  return host().format(d.s, d.n, key_of(d), RFC3339_LAYOUT)
end
function time_methods:unix() return data(self, "unix", 2).s end
-- Integer arithmetic wraps outside about 1678..2262, as Go's UnixNano does.
function time_methods:unix_nano()
  local d = data(self, "unix_nano", 2)
  return d.s * NANOS + d.n
end
function time_methods:unix_milli()
  local d = data(self, "unix_milli", 2)
  return d.s * 1000 + d.n // 1000000
end
function time_methods:date()
  local f = wall(self, "date")
  return f[1], f[2], f[3]
end
function time_methods:clock()
  local f = wall(self, "clock")
  return f[4], f[5], f[6]
end
function time_methods:year() return wall(self, "year")[1] end
function time_methods:month() return wall(self, "month")[2] end
function time_methods:day() return wall(self, "day")[3] end
function time_methods:hour() return wall(self, "hour")[4] end
function time_methods:minute() return wall(self, "minute")[5] end
function time_methods:second() return wall(self, "second")[6] end
function time_methods:nanosecond() return data(self, "nanosecond", 2).n end
function time_methods:weekday() return wall(self, "weekday")[7] end
function time_methods:year_day() return wall(self, "year_day")[8] end
function time_methods:is_zero()
  local d = data(self, "is_zero", 2)
  return d.s == ZERO_UNIX and d.n == 0
end
function time_methods:utc()
  local d = data(self, "utc", 2)
  return new_time(d.s, d.n, utc_location())
end
function time_methods:in_local()
  local d = data(self, "in_local", 2)
  return new_time(d.s, d.n, local_location())
end
function time_methods:in_location(loc)
  local d = data(self, "in_location", 2)
  if not is_location(loc) then error("time:in_location: expected a Location", 2) end
  return new_time(d.s, d.n, loc)
end
function time_methods:location() return data(self, "location", 2).loc end
local function rounded(self, dur, what, truncate)
  local d = data(self, what, 3)
  local ns = duration_ns_of[dur]
  if ns == nil then
    error("time:" .. what .. ": expected a Duration (from time.parse_duration), got " .. type(dur), 3)
  end
  local sec, nsec = host().round(d.s, d.n, ns, truncate)
  return new_time(sec, nsec, d.loc)
end
function time_methods:round(dur) return rounded(self, dur, "round", false) end
function time_methods:truncate(dur) return rounded(self, dur, "truncate", true) end
time_mt.__tostring = function(self)
  local d = data(self, "tostring", 2)
  return host().format(d.s, d.n, key_of(d), TIME_STRING_LAYOUT)
end

---------------------------------------------------------------------------------------------
-- funcs: in-process calls run inside the caller's coroutine (no scheduler round trip) unless
-- they need a timeout; async calls and timeouts go through the scheduler as child tasks.
---------------------------------------------------------------------------------------------
---------------------------------------------------------------------------------------------
-- Payloads (Wippy's `payload`): what futures deliver and messages carry. A payload holds a Lua
-- value in a format; `transcode` re-encodes it (JSON, YAML, MessagePack, text, bytes) through
-- the host's codecs (runtime/modules/payload_module.py), `data()` gives the Lua value back.
---------------------------------------------------------------------------------------------
local FORMAT = {
  JSON = "json/plain", YAML = "yaml/plain", STRING = "text/plain",
  BYTES = "application/octet-stream", MSGPACK = "application/msgpack", LUA = "lua/any",
  GOLANG = "golang/any", ERROR = "golang/error",
}
kit.PAYLOAD_FORMAT = FORMAT
local payload_mt = { __metatable = "payload" }
local payload_methods = {}
payload_mt.__index = payload_methods
payload_mt.__tostring = function(self) return "payload{format=" .. self.format_ .. "}" end

local function new_payload(value, format)
  if format == nil then format = is_error(value) and FORMAT.ERROR or FORMAT.LUA end
  return setmetatable({ data_ = value, format_ = format }, payload_mt)
end
kit.new_payload = new_payload

local function is_payload(v)
  return type(v) == "table" and getmetatable(v) == "payload"
end
kit.is_payload = is_payload

function payload_methods:get_format() return self.format_ end
function payload_methods:data()
  local encoded = rawget(self, "encoded_")
  if encoded == nil then return self.data_ end
  -- A transcoded payload decodes its own text, so what comes back is what the format kept.
  local value, err = kit.payload_decode(encoded, self.format_)
  if err ~= nil then return nil, kit.new_error("Internal", "transcode failed: " .. tostring(err)) end
  return value
end
payload_methods.unmarshal = payload_methods.data
function payload_methods:transcode(format)
  if type(format) ~= "string" then
    return nil, kit.new_error("Invalid", "payload:transcode: the format must be a string")
  end
  local value = self:data()
  if format == FORMAT.LUA or format == FORMAT.GOLANG then return new_payload(value, format) end
  if format == FORMAT.ERROR then
    if not is_error(value) then
      return nil, kit.new_error("Internal", "transcode failed: the value is not an error")
    end
    return new_payload(value, format)
  end
  local encoded, err = kit.payload_encode(value, format)
  if err ~= nil then return nil, kit.new_error("Internal", "transcode failed: " .. tostring(err)) end
  local out = new_payload(nil, format)
  out.encoded_ = encoded
  return out
end

---------------------------------------------------------------------------------------------
-- Futures (Wippy's `future`): the result of funcs.async. The response channel delivers one
-- Payload (success) or one error (failure), then closes. result(), error(), is_complete()
-- and is_canceled() never block; the outcome lives in the scheduler (runtime/scheduler.py).
---------------------------------------------------------------------------------------------
local future_mt = { __metatable = "future" }
local future_methods = {}
future_mt.__index = future_methods

function future_methods:response()
  return self.channel_
end
future_methods.channel = future_methods.response
function future_methods:result()
  return await("future_result", self.id_)
end
function future_methods:is_complete()
  return await("future_done", self.id_)
end
function future_methods:is_canceled()
  return await("future_canceled", self.id_)
end
function future_methods:error()
  return await("future_error", self.id_)
end
function future_methods:cancel()
  await("future_cancel", self.id_)
  return true, nil
end

function kit.new_future(id, channel_id)
  return setmetatable({ id_ = id, channel_ = new_channel_object(channel_id) }, future_mt)
end

--- Run a Lua handler for a call, turning errors into `nil, err` values.
--- Returns ok, value, err where ok=false means the callee raised (err is then the raw error).
local function invoke_handler(fn, args)
  return raw_pcall(fn, unpack(args, 1, args.n))
end
kit.invoke_handler = invoke_handler

--- Call `fn(args)` as a unit call with `ctx` as the task's call context; restores the caller's
--- context afterwards even across yields. Returns value, err.
function kit.call_in_process(fn, args, ctx)
  local task = current
  local saved = task.ctx
  task.ctx = ctx
  -- How deep in calls the task is: a function called inline is not the HTTP-bound one and
  -- must not see its request (runtime/modules/http_module.py reads this).
  task.nested = (task.nested or 0) + 1
  local r = pack(raw_pcall(fn, unpack(args, 1, args.n)))
  task.nested = task.nested - 1
  task.ctx = saved
  if not r[1] then
    local fatal = fatal_error(r[2])
    if fatal then error(fatal, 0) end
    return nil, r[2], true
  end
  return r[2], r[3]
end

--- What a caller gets for a callee's error: an error object as is; anything else (a string
--- returned as `nil, "text"`, or raised) is an Internal error with that text, as in Wippy.
local function as_error(e, raised)
  if e == nil or is_error(e) then return e end
  -- A string returned as `nil, "text"` says it is final; a raised one says nothing.
  local retryable = nil
  if not raised then retryable = false end
  return kit.new_error("Internal", safe_text(e), nil, retryable)
end
kit.as_error = as_error

--- Clone every table argument through the codec so the callee cannot share (or smuggle
--- functions through) the caller's tables, exactly as if the call crossed a network.
local function clone_args(clone, args)
  for i = 1, args.n do
    local v = args[i]
    local tv = type(v)
    if tv == "table" then
      local copy, err = clone(v, i)
      if err ~= nil then return nil, err end
      args[i] = copy
    elseif tv == "function" or tv == "thread" or tv == "userdata" then
      return nil, kit.new_error("INVALID", sformat("args[%d]: a %s cannot be sent", i, tv))
    end
  end
  return args
end

--- Build the `funcs` module of one entry.
--- host.resolve(id) -> handler function | "remote" | "timed" (a default timeout) | nil, err
--- host.clone(value, index) -> copy | nil, err
-- Options a call may carry: Wippy's `timeout`, and the activity options of Wippy's Temporal
-- pages (`activity.retry_policy`, ...; also spelled `temporal.activity.*`), which mean
-- something in a workflow and are accepted elsewhere so that shared code runs anywhere.
local ACTIVITY_OPTIONS = {
  id = true, task_queue = true, schedule_to_close_timeout = true,
  schedule_to_start_timeout = true, start_to_close_timeout = true, heartbeat_timeout = true,
  wait_for_cancellation = true, retry_policy = true, disable_eager_execution = true,
  versioning_intent = true, summary = true, priority = true, ["local"] = true,
}
-- Wippy hands a call's options to its scheduler as they are ("implementation-specific"), so
-- any name is accepted; only an activity option must be one Wippy documents, since a misspelt
-- one would silently change nothing.
local function known_call_option(k)
  local name = k:match("^activity%.(.+)$") or k:match("^temporal%.activity%.(.+)$")
  return name == nil or ACTIVITY_OPTIONS[name] == true
end

function kit.funcs_module(host)
  local resolve, clone = host.resolve, host.clone
  local cache = {}

  local function target_of(id)
    local target = cache[id]
    if target ~= nil then return target end
    if type(id) ~= "string" then
      return nil, kit.new_error("Invalid", "funcs: the function id must be a string like 'app:name'")
    end
    local t, err = resolve(id)
    if t == nil then return nil, err end
    cache[id] = t
    return t
  end

  local function do_call(id, ctx, options, ...)
    local target, err = target_of(id)
    if target == nil then return nil, err end
    local args, cerr = clone_args(clone, pack(...))
    if args == nil then return nil, cerr end
    -- A workflow's calls are activities (recorded, retried): always the scheduler's "call".
    -- Checked per call, not cached: a library may serve functions and workflows alike.
    if type(target) == "string" or options.timeout ~= nil or (current ~= nil and current.durable) then
      return await("call", id, args, ctx, options.timeout, options.raw)
    end
    local value, verr, raised = kit.call_in_process(target, args, ctx)
    if raised then return nil, as_error(verr, true) end
    if type(value) == "table" then
      local copy, cloned_err = clone(value, 0)
      if cloned_err ~= nil then return nil, cloned_err end
      value = copy
    end
    return value, as_error(verr)
  end

  local function do_async(id, ctx, options, ...)
    local target, err = target_of(id)
    if target == nil then return nil, err end
    local args, cerr = clone_args(clone, pack(...))
    if args == nil then return nil, cerr end
    local future_id, channel_id = await("async", id, args, ctx, options.timeout, options.raw)
    return kit.new_future(future_id, channel_id)
  end

  local executor_mt = { __metatable = "executor" }
  local executor = {}
  executor_mt.__index = executor
  local function new_executor(ctx, options)
    return setmetatable({ ctx_ = ctx, options_ = options }, executor_mt)
  end
  function executor:with_context(values)
    if type(values) ~= "table" then error("with_context: expected a table", 2) end
    local merged = {}
    for k, v in pairs(self.ctx_) do merged[k] = v end
    for k, v in pairs(values) do merged[k] = v end
    return new_executor(merged, self.options_)
  end
  -- As in Wippy, with_options replaces the executor's options (it does not merge them).
  function executor:with_options(options)
    if type(options) ~= "table" then error("with_options: expected a table", 2) end
    local raw = {}
    for k, v in pairs(options) do
      if type(k) ~= "string" then error("with_options: option names are strings", 2) end
      if not known_call_option(k) then
        error("with_options: unknown activity option '" .. k .. "' (the activity.* options "
          .. "of Wippy's activities page: start_to_close_timeout, schedule_to_close_timeout, "
          .. "schedule_to_start_timeout, heartbeat_timeout, retry_policy, "
          .. "wait_for_cancellation, id, task_queue, disable_eager_execution, summary, "
          .. "priority, versioning_intent, local)", 2)
      end
      raw[k] = v
    end
    local timeout = nil
    if raw.timeout ~= nil then
      -- Wippy's option tables count a bare number in milliseconds.
      local ns, derr = kit.duration_ns(raw.timeout, kit.parse_duration_ns, 1000000)
      if ns == nil then error("with_options: timeout: " .. tostring(derr), 2) end
      timeout = ns / 1e9
    end
    return new_executor(self.ctx_, { timeout = timeout, raw = raw })
  end
  function executor:call(id, ...) return do_call(id, self.ctx_, self.options_, ...) end
  function executor:async(id, ...) return do_async(id, self.ctx_, self.options_, ...) end

  local NO_OPTIONS = {}
  return {
    call = function(id, ...)
      local task = current
      return do_call(id, task and task.ctx or {}, NO_OPTIONS, ...)
    end,
    async = function(id, ...)
      local task = current
      return do_async(id, task and task.ctx or {}, NO_OPTIONS, ...)
    end,
    new = function()
      local task = current
      local inherited = {}
      if task then for k, v in pairs(task.ctx) do inherited[k] = v end end
      return new_executor(inherited, {})
    end,
  }
end

--- The body of a child task that runs one call (async, or with a timeout).
function kit.call_task(fn, args)
  local value, err, raised = kit.call_in_process(fn, args, current.ctx)
  if raised then return nil, as_error(err, true) end
  return value, as_error(err)
end

--- Table access for Python. lupa 2.8 returns (thread, value) from `table[key]` when Python
--- indexes a table inside a callback made from a coroutine, so Python never indexes tables:
--- it calls these instead (function calls are unaffected).
-- A table application code returned may carry an __index that loops: guarded (Python calls
-- this outside any task, where no hook would stop it).
local function index(t, k) return t[k] end
function kit.get(t, k)
  local v = type(t) == "table" and rawget(t, k) or nil
  if v ~= nil or (type(t) == "table" and getmetatable(t) == nil) then return v end
  local ok, r = guarded(index, t, k)
  if ok then return r end
  return nil
end
function kit.set(t, k, v) t[k] = v end
function kit.pack_array(t) t.n = #t; return t end
function kit.unpack_args(args) return args.n, unpack(args, 1, args.n) end

--- A select's cases as a flat list: kind1, id1, value1, kind2, id2, value2, ...
function kit.flatten_cases(cases)
  local out, n = {}, 0
  for i = 1, #cases do
    local c = cases[i]
    out[n + 1], out[n + 2], out[n + 3] = c.kind, c.id, c.value
    n = n + 3
  end
  return n, unpack(out, 1, n)
end

---------------------------------------------------------------------------------------------
-- Actors: one turn applies a list of items (init, messages, events) to an actor's state.
---------------------------------------------------------------------------------------------
function kit.process_exit(value)
  error({ [EXIT_KEY] = true, value = value }, 0)
end

local message_mt = { __metatable = "message", __index = {
  topic = function(self) return self.topic_ end,
  from = function(self) return self.from_ end,
  payload = function(self) return new_payload(self.data_) end,
} }

function kit.new_message(topic, from, data)
  return setmetatable({ topic_ = topic, from_ = from, data_ = data }, message_mt)
end

local function turn_error(err)
  if is_exit_signal(err) then return err end
  local msg = error_text(err)
  local ok, trace = raw_pcall(traceback, msg, 2)
  return { err = err, trace = ok and trace or msg }
end

local function apply_item(actor, state, item, trapping)
  local kind = item.kind
  if kind == "init" then
    local init = actor.init
    if init == nil then return nil end
    return init(unpack(item.args, 1, item.args.n))
  elseif kind == "message" then
    local s = actor.handle(state, item.msg)
    if s == nil then return state end
    return s
  elseif kind == "event" then
    local ev = item.ev
    if ev.kind == "LINK_DOWN" and not trapping() then
      error(kit.new_error("CANCELED", "linked process " .. tostring(ev.from) .. " went down"), 0)
    end
    local on_event = actor.on_event
    if on_event == nil then
      if ev.kind == "CANCEL" then
        error(kit.new_error("CANCELED", "canceled: " .. tostring(ev.reason or "no reason")), 0)
      end
      return state
    end
    local s = on_event(state, ev)
    if s == nil then return state end
    return s
  end
  return state
end

--- Apply `items` in order. Returns status, index of the last item applied (or of the one that
--- stopped the actor), the state, and the exit value or the crash {err, trace}.
--- `checkpoint(i)` lets the host stop the worker before item i (fault injection).
function kit.actor_turn(actor, state, items, trapping, checkpoint)
  local task = current
  for i = 1, #items do
    if checkpoint(i) then await("crash") end
    local item = items[i]
    local kind = item.kind
    if kind == "terminate" then
      return "terminated", i, state
    elseif kind ~= "skip" then
      kit.reset_budget(task.budget)
      local ok, r = raw_xpcall(apply_item, turn_error, actor, state, item, trapping)
      if not ok then
        if is_exit_signal(r) then return "exited", i, state, r.value end
        if type(r) ~= "table" then
          -- turn_error itself failed ("error in error handling"): out of budget or memory
          -- while it ran, which says more than the handler's own failure.
          local fatal = fatal_error(r) or r
          r = { err = fatal, trace = safe_text(fatal) }
        end
        return "crashed", i, state, r
      end
      state = r
    end
  end
  return "running", #items, state
end

return kit
