-- Reports back: returns twice its argument, or fails on a negative one.
local function main(n)
  if n < 0 then error("negative: " .. n) end
  return n * 2
end
return main
