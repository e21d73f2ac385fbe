local function handler(a, b)
  return a + b
end

return { handler = handler }
