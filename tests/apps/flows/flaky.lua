local errors = require("errors")

-- An upstream that times out until its `ok_from`-th call (calls are counted per warm engine).
local calls = 0
return { handler = function(ok_from)
  calls = calls + 1
  if calls < ok_from then return nil, errors.new({ kind = errors.TIMEOUT, message = "upstream timed out" }) end
  return "ok on call " .. calls
end }
