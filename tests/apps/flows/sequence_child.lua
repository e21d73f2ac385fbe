local funcs = require("funcs")

local function main(input)
  if input.n < 0 then error("negative input " .. input.n) end
  return funcs.call("app:double", input.n)
end

return { main = main }
