-- Counts messages; "upgrade" hot-swaps to a new generation carrying the count.
local function main(count, generation)
  count = count or 0
  generation = generation or 1
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    if msg:topic() == "upgrade" then
      process.upgrade(nil, count, generation + 1)
    elseif msg:topic() == "get" then
      process.send(msg:from(), "state", { count = count, generation = generation })
    else
      count = count + 1
    end
  end
end
return main
