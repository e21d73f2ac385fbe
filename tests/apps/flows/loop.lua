local funcs = require("funcs")
local uuid = require("uuid")

-- `input.n` activities one after the other: a long history (2 events per activity); with
-- `input.queued`, each goes through the activity queue (a park and a wake per activity).
local function main(input)
  local executor = funcs.new()
  if input.queued then executor = executor:with_options({ ["activity.local"] = false }) end
  local total, ids = 0, {}
  for i = 1, input.n do
    total = total + executor:call("app:double", i)
    if i % 100 == 0 then ids[#ids + 1] = uuid.v4() end
  end
  return { total = total, ids = ids }
end

return { main = main }
