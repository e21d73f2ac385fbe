local funcs = require("funcs")
local time = require("time")

-- Two activities against a deadline: whichever the history says came first wins, every time.
-- (Pending futures are kept in a list: `pairs` over tables keyed by objects has no fixed order.)
local function main(input)
  local pending = {
    { name = "a", ch = funcs.async("app:double", 1):response() },
    { name = "b", ch = funcs.async("app:slow", 2):response() },
  }
  local deadline = time.after(input.deadline)
  local order = {}
  while #pending > 0 do
    local cases = { deadline:case_receive() }
    for _, p in ipairs(pending) do cases[#cases + 1] = p.ch:case_receive() end
    local r = channel.select(cases)
    if r.channel == deadline then
      order[#order + 1] = "deadline"
      break
    end
    for i, p in ipairs(pending) do
      if p.ch == r.channel then
        order[#order + 1] = p.name .. "=" .. tostring(r.value:data())
        table.remove(pending, i)
        break
      end
    end
  end
  return order
end

return { main = main }
