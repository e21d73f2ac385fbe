local function handler(n) return n * 2 end
return handler
