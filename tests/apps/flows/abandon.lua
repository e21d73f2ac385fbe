local funcs = require("funcs")
local time = require("time")

-- Gives up on an activity that keeps failing: its future is canceled while a retry waits,
-- then the run waits for a "done" signal and nothing else. Queued (each attempt a run of the
-- activity Lambda, which the tests count) unless `input.inline`.
local function main(input)
  local retry = { initial_interval = "10s", backoff_coefficient = 1, maximum_attempts = 5 }
  local options = { ["activity.retry_policy"] = retry, ["activity.local"] = input.inline or false }
  local future = funcs.new():with_options(options):async("app:flaky", 1000000)
  time.sleep(input.give_up_after)
  future:cancel()
  local _, err = future:result()
  local done = process.listen("done")
  local word = done:receive()
  return { kind = err:kind(), canceled = future:is_canceled(), word = word }
end

return { main = main }
