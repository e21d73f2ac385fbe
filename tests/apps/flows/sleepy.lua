local time = require("time")

-- Takes as long as it is told to (on the harness clock, instantly).
return {
  handler = function(how_long)
    time.sleep(how_long)
    return "woke after " .. how_long
  end,
}
