local time = require("time")
local logger = require("logger")
local funcs = require("funcs")

local stats = { echoes = 0, workers = 0, exits = 0 }

-- A coroutine of the relay: logs its counters every minute.
local function reporter()
  while true do
    time.sleep("1m")
    logger:info("relay stats", stats)
  end
end

local function keep(answer)
  local _, err = funcs.call("app:keep", answer.id, answer)
  if err then logger:error("could not keep an answer", { id = answer.id, error = tostring(err) }) end
end

local function main()
  process.registry.register("relay")
  process.set_options({ trap_links = true })
  local heartbeat = process.spawn_linked("app:heartbeat", "app:processes")
  local inbox, events = process.inbox(), process.events()
  coroutine.spawn(reporter)

  while true do
    local r = channel.select { inbox:case_receive(), events:case_receive() }
    if r.channel == events then
      local event = r.value
      if event.kind == process.event.EXIT then
        stats.exits = stats.exits + 1
      elseif event.kind == process.event.LINK_DOWN and event.from == heartbeat then
        logger:warn("heartbeat went down; starting another", { error = tostring(event.result.error) })
        heartbeat = process.spawn_linked("app:heartbeat", "app:processes")
      end
    else
      local msg = r.value
      local topic = msg:topic()
      if topic == "echo" then
        local job = msg:payload():data()
        stats.echoes = stats.echoes + 1
        local _, err = process.spawn_monitored("app:worker", "app:processes",
          job.id, job.text, process.pid())
        if err then logger:error("spawn failed", { error = tostring(err) }) end
        stats.workers = stats.workers + 1
      elseif topic == "echoed" then
        keep(msg:payload():data())
      elseif topic == "check" then
        -- Spawn and wait for the result: a durable wait, nothing is held open meanwhile.
        local job = msg:payload():data()
        local answer, err = process.exec("app:worker", "app:processes", job.id, job.text)
        if answer then
          answer.checked = true
          keep(answer)
        else
          keep({ id = job.id, error = tostring(err) })
        end
      elseif topic == "heartbeat" then
        process.send(heartbeat, "fail")
      elseif topic == "crash" then
        error("asked to crash")
      end
    end
  end
end

return { main = main }
