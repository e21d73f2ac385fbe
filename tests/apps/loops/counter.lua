-- A loop-style counter: messages from the inbox, replies to the sender, a sleep, a call.
local time = require("time")
local funcs = require("funcs")
local function main(start: number?)
  local n = start or 0
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    local topic = msg:topic()
    if topic == "inc" then
      n = n + (msg:payload():data() or 1)
    elseif topic == "double" then
      local doubled, err = funcs.call("app:double", n)
      if err then return nil, err end
      n = doubled
    elseif topic == "triple" then  -- a remote function: its own Lambda
      local tripled, err = funcs.call("app:triple", n)
      if err then return nil, err end
      n = tripled
    elseif topic == "nap" then
      time.sleep("10s")
      n = n + 1000
    elseif topic == "get" then
      process.send(msg:from(), "value", n)
    elseif topic == "stop" then
      return n
    elseif topic == "boom" then
      error("boom at " .. n)
    end
  end
end
return main
