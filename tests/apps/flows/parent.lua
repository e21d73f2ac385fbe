local workflow = require("workflow")

-- A child waited for (workflow.exec), one watched (spawn_monitored: EXIT on process.events()),
-- and a child that fails.
local function main(input)
  local doubled, err = workflow.exec("app:sequence_child", { n = input.n })
  local watched = process.spawn_monitored("app:sequence_child", "app:flows", { n = 100 })
  local exit = process.events():receive()
  local _, child_err = workflow.exec("app:sequence_child", { n = -1 })
  return {
    doubled = doubled,
    err = err,
    exit_from_watched = exit.from == string.match(watched, "[^/]+$"),
    watched_result = exit.result,
    child_err = child_err and child_err:message(),
  }
end

return { main = main }
