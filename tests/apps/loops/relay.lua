-- Counts "inc" messages and sends each new count to `to`; "stop" exits with the count.
local function main(to)
  local n = 0
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    if msg:topic() == "stop" then return n end
    n = n + 1
    process.send(to, "n", n)
  end
end
return main
