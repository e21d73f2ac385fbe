-- Lives as long as nobody tells it to stop; "fail" makes it crash (its link sees LINK_DOWN).
local function main()
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    if msg:topic() == "fail" then error("heartbeat lost") end
  end
end

return { main = main }
