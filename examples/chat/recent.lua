-- A bounded list: the room's history and each member's inbox keep only the newest `keep`
-- items, so a busy room never grows a snapshot toward the DynamoDB item limit.
local recent = {}

function recent.push(list, item, keep)
  list[#list + 1] = item
  while #list > keep do
    table.remove(list, 1)
  end
  return list
end

return recent
