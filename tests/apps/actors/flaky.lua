-- A service that crashes on "boom"; its restarts are counted through its init arguments.
return {
  init = function() return { pid = process.pid() } end,
  handle = function(state, msg)
    if msg:topic() == "boom" then error("flaky went down") end
    return state
  end,
}
