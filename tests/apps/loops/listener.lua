-- Wippy's tutorial shape: a topic listener and the inbox in one select, with a timeout;
-- reports everything to `to`.
local time = require("time")
local function main(to)
  local jobs = process.listen("jobs")
  local inbox = process.inbox()
  while true do
    local timeout = time.after("5s")
    local r = channel.select { jobs:case_receive(), inbox:case_receive(), timeout:case_receive() }
    if r.channel == jobs then
      process.send(to, "job", r.value)                 -- the raw payload
    elseif r.channel == inbox then
      local msg = r.value
      if msg:topic() == "unlisten" then
        process.unlisten(jobs)
        jobs = channel.new()  -- nothing comes on it any more (a closed one would be ready)
      end
      process.send(to, "other", { topic = msg:topic(), data = msg:payload():data() })
    else
      process.send(to, "idle", time.now():unix())
    end
  end
end
return main
