local funcs = require("funcs")
local time = require("time")
local model = require("model")

-- Waits for a "decision" signal, at most two days; "comment" signals on the way are kept and
-- the ones already waiting when the decision comes are drained without blocking.
local function main(task: Task): {status: string, by: string?, comments: {string}}
  local decisions = process.listen("decision")
  local comments = process.listen("comment")
  local notes: {string} = {}
  local deadline = time.after("48h")
  local decision: Decision? = nil
  while decision == nil do
    local r = channel.select{decisions:case_receive(), comments:case_receive(), deadline:case_receive()}
    if r.channel == deadline then break end
    if r.channel == comments then
      notes[#notes + 1] = tostring(r.value)
    else
      decision = model.Decision(r.value)
    end
  end
  while true do
    local r = channel.select{comments:case_receive(), default = true}
    if r.default then break end
    notes[#notes + 1] = tostring(r.value)
  end
  if decision == nil then
    return {status = "expired", comments = notes}
  end
  -- A pause before telling the owner (a second: time counts in nanoseconds).
  time.sleep(1 * time.SECOND)
  local notifier = funcs.new():with_options({
    ["activity.start_to_close_timeout"] = "30s",
    ["activity.retry_policy"] = {
      initial_interval = 1000,
      backoff_coefficient = 2.0,
      maximum_attempts = 5,
      non_retryable_error_types = {errors.INVALID},
    },
  })
  local _, err = notifier:call("app:notify", task.owner, (decision!).approved)
  if err then
    return {status = "unnotified", by = decision.by, comments = notes}
  end
  return {status = decision.approved and "approved" or "rejected", by = decision.by, comments = notes}
end

return main
