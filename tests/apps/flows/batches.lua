local funcs = require("funcs")
local uuid = require("uuid")
local workflow = require("workflow")

-- Works through `input.left` items, at most `input.per` per generation of its history, then
-- continues as new with what it has so far.
local function main(input)
  local total, left = input.total or 0, input.left
  local ids = input.ids or {}
  ids[#ids + 1] = uuid.v4()
  for _ = 1, math.min(input.per, left) do
    total = total + funcs.call("app:double", left)
    left = left - 1
  end
  if left > 0 then
    workflow.continue_as_new({ total = total, left = left, per = input.per, ids = ids })
  end
  local info = workflow.info()
  return { total = total, ids = ids, generation = info.generation, length = info.history_length }
end

return { main = main }
