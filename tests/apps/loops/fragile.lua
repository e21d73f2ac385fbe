-- A service that crashes on "crash" (and is restarted under its name).
local function main()
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    if msg:topic() == "crash" then error("asked to crash") end
    if msg:topic() == "who" then process.send(msg:from(), "me", process.pid()) end
  end
end
return main
