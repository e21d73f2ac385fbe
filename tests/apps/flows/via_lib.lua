local helper = require("helper")
return { handler = function(n) return helper.twice(n) end }
