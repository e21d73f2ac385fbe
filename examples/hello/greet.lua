local text = require("text")

local function handler(name)
  if type(name) ~= "string" or name == "" then
    return nil, errors.new({ kind = errors.INVALID, message = "greet: expected a name" })
  end
  return "Hello, " .. text.title(name) .. "!"
end

return { handler = handler }
