local http = require("http")
local funcs = require("funcs")
local time = require("time")

-- Estimates every title concurrently and sums the hours; a slow estimate is given up on after
-- two seconds and counted as a day.
local function main()
  local req = http.request()
  local res = http.response()
  local raw = req:query("titles") or ""
  local futures: {any} = {}
  for title in raw:gmatch("[^,]+") do
    local f, err = funcs.async("app:estimate_one", title)
    if err then return nil, err end
    futures[#futures + 1] = f
  end
  local total: integer = 0
  local deadline = time.after(2 * time.SECOND)
  for _, f in ipairs(futures) do
    local r = channel.select{f:response():case_receive(), deadline:case_receive()}
    if r.channel == deadline then
      total = total + 8
    else
      total = total + (r.value :: any):data()
    end
  end
  -- Work the handler does not wait for: Wippy ends it when the handler returns.
  coroutine.spawn(function() time.sleep("1s") end)
  res:write_json({titles = #futures, hours = total})
end

return main
