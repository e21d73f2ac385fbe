-- Collects every payload it is sent, in arrival order; "stop" ends it with the list.
local function main()
  local seen = {}
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    if msg:topic() == "stop" then
      return seen
    end
    seen[#seen + 1] = msg:payload():data()
  end
end
return { main = main }
