local http = require("http")
local funcs = require("funcs")
local logger = require("logger")

local function handler()
  local req = http.request()
  local res = http.response()
  local name = req:param("name")
  if req:method() == "POST" then
    local body, err = req:body_json()
    if err then
      res:set_status(400)
      res:write_json({ error = err:message() })
      return
    end
    name = body.name
  end
  local greeting, err = funcs.call("app:greet", name)
  if err then
    res:set_status(400)
    res:write_json({ error = tostring(err) })
    return
  end
  logger.info("greeted", { name = name })
  res:write_json({ greeting = greeting })
end

return { handler = handler }
