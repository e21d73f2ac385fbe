-- Tells the owner about the decision. The upstream is unavailable the first time it is asked
-- for an owner (in this container), which the workflow's retry policy rides over.
local tried: {[string]: boolean} = {}

local function main(owner: string, approved: boolean): (boolean?, error?)
  if owner == "" then
    return nil, errors.new({message = "no owner to notify", kind = errors.INVALID})
  end
  if not tried[owner] then
    tried[owner] = true
    return nil, errors.new({message = "mail service unavailable", kind = errors.UNAVAILABLE, retryable = true})
  end
  return true
end

return main
