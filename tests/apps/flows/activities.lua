return {
  double = function(n) return n * 2 end,
  fail = function(why) return nil, why end,

}
