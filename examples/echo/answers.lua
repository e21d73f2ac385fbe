local store = require("store")

-- Keeps the relay's answer for `id` (for a day).
local function keep(id, answer)
  local answers, err = store.get("app:answers")
  if err then return nil, err end
  return answers:set("echo:" .. id, answer, 86400)
end

return { keep = keep }
