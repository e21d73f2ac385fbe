-- The task model, shared by the HTTP handler and the workflow.
type Priority = "low" | "normal" | "high"

type Task = {
  title: string @min_len(1) @max_len(80),
  owner: string @pattern("^[a-z][a-z0-9_]*$"),
  priority?: Priority,
}

type Decision = {approved: boolean, by: string, note?: string}

local function priority_of(task: Task): Priority
  return task.priority or "normal"
end

return {Task = Task, Decision = Decision, priority_of = priority_of}
