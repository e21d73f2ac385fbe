local funcs = require("funcs")
local time = require("time")

-- Two queued activities at once, the first one's answer awaited against a deadline (the test
-- delivers the second one first), then a short durable timer.
local queued = funcs.new():with_options({ ["activity.local"] = false })

local function main(input)
  local first = queued:async("app:double", input.a):response()
  local second = queued:async("app:double", input.b):response()
  local deadline = time.after("1h")
  local r = channel.select({ first:case_receive(), deadline:case_receive() })
  if r.channel == deadline then
    return "deadline"
  end
  local b = second:receive():data()
  time.sleep("1m")
  return { a = r.value:data(), b = b }
end

return { main = main }
