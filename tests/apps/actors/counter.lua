local time = require("time")
local counter = {}

function counter.init(start)
  return { n = start or 0 }
end

function counter.handle(state, msg)
  local topic = msg:topic()
  if topic == "inc" then
    state.n = state.n + msg:payload():data()
  elseif topic == "get" then
    process.send(msg:from(), "value", state.n)
  elseif topic == "slow_inc" then
    time.sleep("10s")
    state.n = state.n + 1
  elseif topic == "boom" then
    error("boom at " .. state.n)
  elseif topic == "stop" then
    process.exit(state.n)
  elseif topic == "grow" then
    state.blob = string.rep("x", msg:payload():data())
  elseif topic == "bad_state" then
    state.fn = function() end
  elseif topic == "spin" then
    while true do end
  elseif topic == "burn" then
    local x = 0
    for i = 1, msg:payload():data() do x = x + i end
    state.n = state.n + 1
  end
  return state
end

return counter
