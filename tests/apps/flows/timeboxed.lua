local funcs = require("funcs")

-- An activity call with a deadline per attempt: TIMEOUT is retried like any other failure.
local function main(input)
  local options = {
    ["activity.start_to_close_timeout"] = "1s",
    ["activity.retry_policy"] = { initial_interval = "1s", maximum_attempts = input.attempts or 2 },
  }
  local value, err = funcs.new():with_options(options):call("app:sleepy", input.sleep)
  return { value = value, kind = err and err:kind(), err = err and err:message() }
end

return { main = main }
