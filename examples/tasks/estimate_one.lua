-- A made-up estimate: an hour per word of the title, at least one.
local function main(title: string): integer
  local words = 0
  for _ in title:gmatch("%S+") do words = words + 1 end
  return math.max(1, words)
end

return main
