-- A loop-style counter: n grows by each "inc" message's payload.
local function main(start)
  local n = start or 0
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    if msg:topic() == "inc" then
      n = n + msg:payload():data()
    elseif msg:topic() == "stop" then
      return n
    end
  end
end
return { main = main }
