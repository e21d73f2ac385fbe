local errors = require("errors")

-- Stand-ins for the inventory, payment and shipping services an order talks to.
local M = {}

function M.reserve(order)
  return { reservation = "res-" .. order.id, items = #order.items }
end

function M.release(reservation)
  return { released = reservation }
end

function M.charge(order)
  if order.total > 1000 then
    return nil, errors.new({ kind = errors.INVALID, message = "card declined for " .. order.total })
  end
  return { charge = "ch-" .. order.id, amount = order.total }
end

function M.refund(charge)
  return { refunded = charge }
end

function M.ship(order)
  return { tracking = "trk-" .. order.id }
end

return M
