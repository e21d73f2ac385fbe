local funcs = require("funcs")
local time = require("time")
local workflow = require("workflow")
local logger = require("logger")

-- An order saga: reserve stock, wait for a manager's approval of large orders (or give up after
-- a day), charge, ship; on any failure, undo what was done, newest first. After shipping, a
-- child workflow follows up a day later.
local function main(order)
  local undo = {}
  local function fail(reason)
    for i = #undo, 1, -1 do undo[i]() end
    return { status = "canceled", reason = reason }
  end

  local reservation, err = funcs.call("orders:reserve", order)
  if err then return fail("reserve: " .. err:message()) end
  undo[#undo + 1] = function() funcs.call("orders:release", reservation.reservation) end

  if order.total >= 500 then
    local decisions = process.listen("approval")
    local timeout = time.after("24h")
    local r = channel.select({ decisions:case_receive(), timeout:case_receive() })
    if r.channel == timeout then return fail("not approved within 24h") end
    local decision = r.value  -- process.listen delivers the payload itself
    if not decision.approved then return fail("rejected by " .. tostring(decision.by)) end
  end

  local charge, cerr = funcs.call("orders:charge", order)
  if cerr then return fail("charge: " .. cerr:message()) end
  undo[#undo + 1] = function() funcs.call("orders:refund", charge.charge) end

  local shipment, serr = funcs.call("orders:ship", order)
  if serr then return fail("ship: " .. serr:message()) end
  logger:info("order shipped", { order = order.id, tracking = shipment.tracking })

  local follow_up = workflow.exec("orders:follow_up", { order = order.id })
  return { status = "shipped", tracking = shipment.tracking, follow_up = follow_up }
end

return { main = main }
