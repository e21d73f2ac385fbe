local function handler(n) return n * 2 end
local function triple(n) return n * 3 end
return { handler = handler, triple = triple }
