-- Counts messages and checks they arrive in the order their sender numbered them.
return {
  init = function() return { count = 0, last = 0, out_of_order = 0 } end,
  handle = function(state, msg)
    local seq = msg:payload():data()
    if seq ~= state.last + 1 then state.out_of_order = state.out_of_order + 1 end
    state.last = seq
    state.count = state.count + 1
    return state
  end,
}
