local funcs = require("funcs")

-- n calls of `id` through funcs.call, or of a plain Lua function when id is nil (the baseline).
local function handler(n, id)
  local add = function(a, b) return a + b end
  local total = 0
  for i = 1, n do
    local v
    if id then v = funcs.call(id, i, 1) else v = add(i, 1) end
    total = total + v
  end
  return total
end

return { handler = handler }
