-- The same counter as a handler-style actor: its state is the snapshot.
return {
  init = function(start) return { n = start or 0 } end,
  handle = function(state, msg)
    if msg:topic() == "inc" then
      state.n = state.n + msg:payload():data()
    elseif msg:topic() == "stop" then
      process.exit(state.n)
    end
    return state
  end,
}
