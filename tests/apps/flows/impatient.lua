local funcs = require("funcs")
local workflow = require("workflow")

-- Starts an activity, then continues as new on the first signal without waiting for it:
-- the abandoned activity's answer must not reach the next generation.
local function main(input)
  local future = funcs.async("app:double", input.n)
  local msg = process.inbox():receive()
  if msg:topic() == "again" then workflow.continue_as_new({ n = input.n + 1 }) end
  local payload = future:response():receive()
  return payload:data()
end

return { main = main }
