-- One echo: the text in capitals, sent to `report_to` (when given) and returned.
local function main(id, text, report_to)
  if type(text) ~= "string" or text == "" then
    error("nothing to echo")
  end
  local answer = { id = id, text = string.upper(text), worker = process.pid() }
  if report_to then
    process.send(report_to, "echoed", answer)
  end
  return answer
end

return { main = main }
