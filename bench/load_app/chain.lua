local funcs = require("funcs")

-- `input.n` activities one after the other, squaring base + 1 .. base + n; returns the run's
-- label and the sum of the squares, which the load bench checks exactly.
local function main(input)
  local total = 0
  for i = 1, input.n do
    local value, err = funcs.call("load:square", input.base + i)
    if err then error(err) end
    total = total + value
  end
  return { label = input.label, total = total }
end

return { main = main }
