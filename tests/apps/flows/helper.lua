-- A library shared by a function and a workflow: its funcs.call is a plain call in the one and
-- a recorded activity in the other.
local funcs = require("funcs")
return { twice = function(n) return funcs.call("app:double", n) end }
