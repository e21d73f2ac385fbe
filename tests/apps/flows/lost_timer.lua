local time = require("time")

-- A "go" signal races an hour-long time.after; whichever wins, the run then waits for a
-- "done" signal only. `input.keep` keeps the timer's channel (it stays live); `input.stop`
-- uses a time.timer and stops it once the signal won; `input.loop` races every "go" against a
-- fresh hour and returns what came once an hour passes with none.
local function main(input)
  local go = process.listen("go")
  if input.loop then
    local seen = {}
    while true do
      local r = channel.select({ go:case_receive(), time.after("1h"):case_receive() })
      if r.channel ~= go then return { seen = seen } end
      seen[#seen + 1] = r.value
    end
  end
  local first
  if input.stop then
    local timer = time.timer("1h")
    local r = channel.select({ go:case_receive(), timer:response():case_receive() })
    first = r.channel == go and r.value or "timeout"
    timer:stop()
  elseif input.keep then
    local deadline = time.after("1h")
    local r = channel.select({ go:case_receive(), deadline:case_receive() })
    first = r.channel == go and r.value or "timeout"
    local done = process.listen("done")
    local r2 = channel.select({ done:case_receive(), deadline:case_receive() })
    return { first = first, word = r2.channel == done and r2.value or "timeout" }
  else
    local r = channel.select({ go:case_receive(), time.after("1h"):case_receive() })
    first = r.channel == go and r.value or "timeout"
  end
  local done = process.listen("done")
  local word = done:receive()
  return { first = first, word = word }
end

return { main = main }
