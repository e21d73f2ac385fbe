local funcs = require("funcs")
local time = require("time")

-- Works in rounds until canceled; on CANCEL it compensates (an activity) and ends on its own
-- terms. Every round also reports to `input.notify` if given (a process.send from a workflow).
local function main(input)
  local events = process.events()
  local rounds = 0
  while true do
    local tick = time.after("1h")
    local r = channel.select({ events:case_receive(), tick:case_receive() })
    if r.channel == events and r.value.kind == process.event.CANCEL then
      local undone = funcs.call("app:double", rounds)
      return { canceled = true, reason = r.value.reason, undone = undone }
    end
    rounds = rounds + 1
    if input.notify then process.send(input.notify, "round", rounds) end
  end
end

return { main = main }
