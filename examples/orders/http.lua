local http = require("http")
local workflow = require("workflow")

-- POST /orders {id, items, total}: starts the saga under the order's id (a retried POST finds
-- the same run), answers 202 with the run's address.
local function place()
  local req, res = http.request(), http.response()
  local order, err = req:body_json()
  if err or type(order) ~= "table" or type(order.id) ~= "string" then
    res:set_status(400)
    res:write_json({ error = "expected a JSON order with an id" })
    return
  end
  local pid, serr = workflow.start("orders:order", order,
    { name = "order-" .. order.id, conflict = "use_existing" })
  if serr then
    res:set_status(400)
    res:write_json({ error = serr:message() })
    return
  end
  res:set_status(202)
  res:write_json({ workflow = pid })
end

return { place = place }
