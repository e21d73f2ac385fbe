-- The activity: x squared.
local function handler(x)
  return x * x
end

return { handler = handler }
