-- Typed Lua as an application writes it: an order book with validation, pricing and events.
-- Used by bench/dialect.py (typed vs untyped compile); it is compiled, never run.
local json = require("json")
local time = require("time")
local funcs = require("funcs")

type Money = {amount: integer @min(0), currency: "USD" | "EUR" | "GBP"}
type LineItem = {
  sku: string @min_len(1) @max_len(32),
  quantity: integer @min(1) @max(1000),
  price: Money,
  note?: string,
}
type Address = {street: string, city: string, zip?: string @pattern("^[0-9]{5}$")}
type OrderStatus = "draft" | "placed" | "paid" | "shipped" | "cancelled"
type Order = {
  id: string,
  customer: string,
  items: {LineItem},
  status: OrderStatus,
  shipping?: Address,
  tags?: {[string]: boolean},
  placed_at?: number,
}
type Result<T, E> = {ok: true, value: T} | {ok: false, error: E}
type Handler<T> = (event: T, context: {[string]: any}) -> (boolean, string?)
type Discount = fun(order: Order, subtotal: integer): integer
type Pair<A, B> = {first: A, second: B}
type Registry = {[string]: Handler<Order>}
type Audited = Order & {audited_by: string, audited_at: number}

interface Priced
  function total(currency: string): integer
  function lines(): number
end

local M = {}

local handlers: Registry = {}
local discounts: {Discount} = {}
local cache: {[string]: Pair<Order, integer>} = {}

local function money(amount: integer, currency: string?): Money
  return {amount = amount, currency = (currency or "USD") :: "USD"}
end

local function line_total(item: LineItem): integer
  return item.quantity * item.price.amount
end

local function subtotal(order: Order): integer
  local sum: integer = 0
  for _, item in ipairs(order.items) do
    sum = sum + line_total(item)
  end
  return sum
end

function M.register<T>(name: string, handler: Handler<T>): ()
  handlers[name] = handler :: Handler<Order>
end

function M.add_discount(d: Discount): integer
  discounts[#discounts + 1] = d
  return #discounts
end

local function apply_discounts(order: Order, amount: integer): integer
  local best: integer = amount
  for i = 1, #discounts do
    local candidate = discounts[i](order, amount)
    if candidate < best then best = candidate end
  end
  return best
end

function M.validate(raw: any): (Order?, string?)
  local order, err = Order:is(raw)
  if not order then
    return nil, err
  end
  for i, item in ipairs((order :: Order).items) do
    if item.price.currency ~= order.items[1].price.currency then
      return nil, string.format("items[%d]: mixed currencies", i)
    end
  end
  return order, nil
end

function M.total(order: Order): Result<Money, string>
  local sub = subtotal(order)
  local discounted = apply_discounts(order, sub)
  local currency = order.items[1] and order.items[1].price.currency or "USD"
  return {ok = true, value = money(discounted, currency)}
end

function M.place(order: Order, now: number?): (Order?, string?)
  if order.status ~= "draft" then
    return nil, "only a draft can be placed, this one is " .. order.status
  end
  local placed: Order = {
    id = order.id,
    customer = order.customer,
    items = order.items,
    status = "placed",
    shipping = order.shipping,
    tags = order.tags,
    placed_at = now or time.now():unix(),
  }
  cache[placed.id] = {first = placed, second = subtotal(placed)}
  return placed, nil
end

function M.cancel(id: string, reason: string): boolean
  local entry = cache[id]
  if entry == nil then return false end
  local order = entry.first!
  order.status = "cancelled" :: OrderStatus
  local handler = handlers["cancelled"]
  if handler then
    local ok, why = handler(order, {reason = reason})
    if not ok then error(why or "cancel handler refused") end
  end
  return true
end

function M.summary(orders: {Order}): {[OrderStatus]: integer}
  local counts: {[OrderStatus]: integer} = {}
  for _, order in ipairs(orders) do
    counts[order.status] = (counts[order.status] or 0) + 1
  end
  return counts
end

function M.audit(order: Order, who: string): Audited
  local out = {} :: Audited
  for k, v in pairs(order) do out[k] = v end
  out.audited_by = who
  out.audited_at = time.now():unix()
  return out
end

local function pick<K, V>(map: {[K]: V}, keys: {K}): {V}
  local out: {V} = {}
  for _, k in ipairs(keys) do
    local v = map[k]
    if v ~= nil then out[#out + 1] = v end
  end
  return out
end

function M.lookup(ids: {string}): {Order}
  local pairs_found = pick(cache, ids)
  local out: {Order} = {}
  for i, p in ipairs(pairs_found) do out[i] = p.first end
  return out
end

function M.encode(order: Order): (string?, error?)
  return json.encode(order)
end

function M.decode(text: string): (Order?, string?)
  local raw, err = json.decode(text)
  if err then return nil, err:message() end
  return M.validate(raw)
end

function M.remote_total(id: string): (integer?, error?)
  local result, err = funcs.call("app:pricing", id)
  if err then return nil, err end
  return (result :: {total: integer}).total, nil
end

local function by_customer(orders: {Order}): {[string]: {Order}}
  local out: {[string]: {Order}} = {}
  for _, o in ipairs(orders) do
    local list = out[o.customer] or {}
    list[#list + 1] = o
    out[o.customer] = list
  end
  return out
end

function M.report(orders: {Order}): {customers: integer, orders: integer, value: integer}
  local grouped = by_customer(orders)
  local customers: integer = 0
  local value: integer = 0
  for _, list in pairs(grouped) do
    customers = customers + 1
    for _, o in ipairs(list) do value = value + subtotal(o) end
  end
  return {customers = customers, orders = #orders, value = value}
end

local function retry<T>(attempts: integer, fn: () -> (T?, string?)): (T?, string?)
  local last: string? = nil
  for _ = 1, attempts do
    local v, err = fn()
    if v ~= nil then return v, nil end
    last = err
    time.sleep("100ms")
  end
  return nil, last
end

function M.reliable_total(id: string): (integer?, string?)
  return retry(3, function(): (integer?, string?)
    local total, err = M.remote_total(id)
    if err then return nil, err:message() end
    return total, nil
  end)
end

function M.is_priced(v: any): boolean
  return Priced:is(v) ~= nil
end

function M.tag(order: Order, name: string, on: boolean?): Order
  local tags = order.tags or {} :: {[string]: boolean}
  tags[name] = on ~= false
  order.tags = tags
  return order
end

return M
