-- Records every payload it gets, in arrival order: the witness of exactly-once delivery.
return {
  init = function() return { seen = {} } end,
  handle = function(state, msg)
    state.seen[#state.seen + 1] = msg:payload():data()
    return state
  end,
}
