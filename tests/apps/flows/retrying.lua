local funcs = require("funcs")

-- The same flaky upstream, with a retry policy per call.
local function main(input)
  local retry = {
    initial_interval = "1s", backoff_coefficient = 2, maximum_attempts = input.attempts,
  }
  local value, err = funcs.new():with_options({ ["activity.retry_policy"] = retry }):call("app:flaky", input.ok_from)
  return { value = value, err = err and err:message(), kind = err and err:kind() }
end

return { main = main }
