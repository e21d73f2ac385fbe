local time = require("time")

-- A day after shipping, ask how it went (here: just note when).
local function main(input)
  time.sleep("24h")
  return { order = input.order, asked_at = time.now():format_rfc3339() }
end

return { main = main }
