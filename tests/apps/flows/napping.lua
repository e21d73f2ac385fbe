local funcs = require("funcs")

-- One call of app:sleepy with the options the input gives (none: the function's own limits).
local function main(input)
  local executor = funcs.new():with_options(input.options or {})
  local value, err = executor:call("app:sleepy", input.sleep)
  return { value = value, kind = err and err:kind(), err = err and err:message() }
end

return { main = main }
