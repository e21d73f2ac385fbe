local http = require("http")
local json = require("json")
local model = require("model")

local function main()
  local req = http.request()
  local res = http.response()
  local body, err = req:body_json()
  if err then
    res:set_status(http.STATUS.BAD_REQUEST)
    res:write_json({error = err:message()})
    return
  end
  local task, invalid = model.Task:is(body)
  if not task then
    res:set_status(http.STATUS.BAD_REQUEST)
    res:write_json({error = invalid})
    return
  end
  local pid, serr = process.spawn("app:review", "app:worker", task :: Task)
  if serr then
    return nil, errors.wrap(serr, "starting the review")
  end
  -- Headers first: set_status sends them, as in Wippy.
  res:set_content_type(http.CONTENT.JSON)
  res:set_status(http.STATUS.ACCEPTED)
  res:write(json.encode({review = pid, priority = model.priority_of(task)}))
end

return main
