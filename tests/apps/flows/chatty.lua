local funcs = require("funcs")
local logger = require("logger")

-- Logs around each activity: each line must be written once, however often it is replayed.
local function main(input)
  logger:info("start")
  for i = 1, input.n do
    funcs.call("app:double", i)
    logger:info("did " .. i)
  end
  return input.n
end

return { main = main }
