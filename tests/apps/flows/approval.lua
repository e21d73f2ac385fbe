local time = require("time")

-- Waits for an "approve" signal, at most `input.wait`; other signals are noted and skipped.
local function main(input)
  local approvals = process.listen("approve")
  local others = process.inbox()
  local deadline = time.after(input.wait)
  local noted = {}
  while true do
    local r = channel.select({ approvals:case_receive(), others:case_receive(),
                               deadline:case_receive() })
    if r.channel == deadline then return { approved = false, noted = noted } end
    if r.channel == approvals then
      return { approved = true, by = r.value, noted = noted }  -- listen gives the payload
    end
    noted[#noted + 1] = r.value:topic()
  end
end

return { main = main }
