local funcs = require("funcs")
local time = require("time")

-- The sequence's activities through the activity queue (the kit's activity.local option).
local queued = funcs.new():with_options({ ["activity.local"] = false })

local function main(input)
  local a = queued:call("app:double", input.n)
  time.sleep("24h")
  local b = queued:call("app:double", a)
  return { total = a + b }
end

return { main = main }
