local workflow = require("workflow")

-- Takes two signals per generation of its history until one says "stop".
local function main(input)
  local inbox = process.inbox()
  local seen = input.seen or {}
  for _ = 1, 2 do
    local msg = inbox:receive()
    seen[#seen + 1] = msg:payload():data()
    if msg:topic() == "stop" then
      return { seen = seen, generation = workflow.info().generation }
    end
  end
  workflow.continue_as_new({ seen = seen })
end

return { main = main }
