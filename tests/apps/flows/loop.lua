local funcs = require("funcs")
local uuid = require("uuid")

-- `input.n` activities one after the other: a long history (2 events per activity).
local function main(input)
  local total, ids = 0, {}
  for i = 1, input.n do
    total = total + funcs.call("app:double", i)
    if i % 100 == 0 then ids[#ids + 1] = uuid.v4() end
  end
  return { total = total, ids = ids }
end

return { main = main }
