return { handler = function(n) return string.rep("x", n) end }
