local funcs = require("funcs")
local time = require("time")

-- Greets every name concurrently; gives up on the stragglers after `timeout`.
local function handler(names, timeout)
  local futures, cases = {}, {}
  for i, name in ipairs(names) do
    futures[i] = funcs.async("app:greet", name)
    cases[i] = futures[i]:response():case_receive()
  end
  local deadline = time.after(timeout or "1s")
  cases[#cases + 1] = deadline:case_receive()

  local greetings, pending = {}, #names
  while pending > 0 do
    local r = channel.select(cases)
    if r.channel == deadline then break end
    for i, f in ipairs(futures) do
      if r.channel == f:response() then
        greetings[i] = r.ok and r.value or ("failed: " .. tostring(f:error()))
        pending = pending - 1
      end
    end
  end
  return greetings
end

return { handler = handler }
