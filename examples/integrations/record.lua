local queue = require("queue")
local store = require("store")

-- At least once: a redelivered message has the same id, so it is recorded once.
local function main(quote)
  local msg = queue.message()
  local cache, err = store.get("app:cache")
  if err then return nil, err end
  local _, perr = cache:put("recorded:" .. msg:id(), quote, {only_if_absent = true})
  if perr and perr:kind() ~= errors.ALREADY_EXISTS then return nil, perr end
  return true
end

return main
