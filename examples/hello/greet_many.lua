local funcs = require("funcs")
local time = require("time")

-- Greets every name concurrently; names still pending after `timeout` are reported as such.
local function handler(names, timeout)
  local pending, greetings = {}, {}
  for i, name in ipairs(names) do
    pending[i] = funcs.async("app:greet", name)
  end
  local deadline = time.after(timeout or "1s")

  while next(pending) ~= nil do
    -- A future's channel delivers once (a payload, or the error) and then closes, so only
    -- pending futures are selected.
    local cases, index_of = { deadline:case_receive() }, {}
    for i, future in pairs(pending) do
      local response = future:response()
      cases[#cases + 1] = response:case_receive()
      index_of[response] = i
    end
    local r = channel.select(cases)
    if r.channel == deadline then break end
    local i = index_of[r.channel]
    local result, err = pending[i]:result()
    greetings[i] = err and ("failed: " .. err:message()) or result:data()
    pending[i] = nil
  end
  for i in pairs(pending) do
    greetings[i] = "timed out"
  end
  return greetings
end

return { handler = handler }
