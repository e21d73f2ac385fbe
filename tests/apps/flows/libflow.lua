local helper = require("helper")
return { main = function(input) return helper.twice(input) end }
