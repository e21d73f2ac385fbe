local funcs = require("funcs")
local time = require("time")
local uuid = require("uuid")

-- Activities in sequence around a long durable sleep; time and ids must replay exactly.
local function main(input)
  local a = funcs.call("app:double", input.n)
  local started = time.now():unix()
  time.sleep("24h")
  local b = funcs.call("app:double", a)
  local _, err = funcs.call("app:fail", "no stock")
  return {
    total = a + b,
    slept = time.now():unix() - started,
    id = uuid.v4(),
    err = err and err:message(),
  }
end

return { main = main }
