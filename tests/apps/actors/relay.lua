-- Counts "inc" messages and forwards each count to the collector: state and outbox move together.
return {
  init = function(collector) return { n = 0, collector = collector } end,
  handle = function(state, msg)
    state.n = state.n + 1
    process.send(state.collector, "n", state.n)
    return state
  end,
}
