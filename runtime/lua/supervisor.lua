-- The kit's supervisor: an actor that starts a tree's children and restarts them with the OTP
-- strategies. Its spec (built by runtime/processes/supervision.py from the manifest):
--   { strategy = "one_for_one" | "one_for_all" | "rest_for_one",
--     intensity = { max_restarts = n, period = seconds },
--     children = { { id, process, host, args, name, type }, ... } }
-- A child's type is its restart type: permanent (always), transient (after a crash only) or
-- temporary (never). Past its intensity a supervisor stops its children and crashes, so that
-- its own supervisor (which monitors it) decides next: that is the escalation.

local sup = {}

local function start(child)
  local args = child.args or {}
  local pid, err
  if child.name then
    pid, err = process.with_name(child.name):spawn_monitored(child.process, child.host,
      table.unpack(args))
  else
    pid, err = process.spawn_monitored(child.process, child.host, table.unpack(args))
  end
  if not pid then error("supervisor: cannot start " .. child.id .. ": " .. tostring(err)) end
  return pid
end

local function index_of(state, pid)
  for i, p in ipairs(state.pids) do
    if p == pid then return i end
  end
  return nil
end

function sup.init(spec)
  local state = { spec = spec, pids = {}, restarts = {}, waiting = {}, pending = {} }
  for i, child in ipairs(spec.children) do state.pids[i] = start(child) end
  return state
end

function sup.handle(state, msg)
  return state
end

local function over_intensity(state)
  local now, period = os.time(), state.spec.intensity.period
  local kept = {}
  for _, t in ipairs(state.restarts) do
    if now - t < period then kept[#kept + 1] = t end
  end
  kept[#kept + 1] = now
  state.restarts = kept
  return #kept > state.spec.intensity.max_restarts
end

local function give_up(state, why)
  for _, pid in ipairs(state.pids) do
    if pid then process.terminate(pid) end
  end
  error("supervisor gave up: " .. why, 0)
end

-- Children `from`..n are stopped; they restart, in order, once all of their EXITs are in.
local function restart_from(state, first, failed)
  local n = #state.spec.children
  for j = first, n do
    state.pending[#state.pending + 1] = j
    if j ~= failed and state.pids[j] then
      state.waiting[state.pids[j]] = true
      process.terminate(state.pids[j])
    end
    state.pids[j] = false
  end
end

local function start_pending(state)
  if next(state.waiting) ~= nil then return end
  table.sort(state.pending)
  for _, j in ipairs(state.pending) do
    state.pids[j] = start(state.spec.children[j])
  end
  state.pending = {}
end

function sup.on_event(state, ev)
  if ev.kind ~= process.event.EXIT then return state end
  if state.waiting[ev.from] then
    state.waiting[ev.from] = nil
    start_pending(state)
    return state
  end
  local i = index_of(state, ev.from)
  if i == nil then return state end -- an incarnation already replaced
  local child = state.spec.children[i]
  local err = ev.result and ev.result.error
  local abnormal = err ~= nil and err:kind() ~= errors.CANCELED
  if child.type == "temporary" or (child.type == "transient" and not abnormal) then
    state.pids[i] = false
    return state
  end
  state.pids[i] = false
  if over_intensity(state) then
    give_up(state, string.format("more than %d restarts in %gs (last: %s)",
      state.spec.intensity.max_restarts, state.spec.intensity.period, child.id))
  end
  local strategy = state.spec.strategy
  if strategy == "one_for_one" then
    state.pids[i] = start(child)
  elseif strategy == "one_for_all" then
    restart_from(state, 1, i)
    start_pending(state)
  else -- rest_for_one
    restart_from(state, i, i)
    start_pending(state)
  end
  return state
end

return sup
