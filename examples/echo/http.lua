local http = require("http")
local uuid = require("uuid")
local store = require("store")

local function reply(res, status, body)
  res:set_status(status)
  res:write_json(body)
end

-- POST /echo {text}: hands the text to the relay (by its registered name); 202 with the id.
local function submit()
  local req, res = http.request(), http.response()
  local body, err = req:body_json()
  if err or type(body) ~= "table" or type(body.text) ~= "string" then
    return reply(res, 400, { error = "expected {\"text\": \"...\"}" })
  end
  local id = uuid.v4()
  local _, serr = process.send("relay", "echo", { id = id, text = body.text })
  if serr then return reply(res, 503, { error = "the relay is not running: " .. serr:message() }) end
  return reply(res, 202, { id = id })
end

-- GET /echo/{id}: the answer once the worker has reported back.
local function answer()
  local req, res = http.request(), http.response()
  local id = req:param("id")
  local answers, err = store.get("app:answers")
  if err then return reply(res, 500, { error = err:message() }) end
  local found = answers:get("echo:" .. id)
  if found == nil then return reply(res, 404, { error = "no answer for " .. id .. " yet" }) end
  return reply(res, 200, found)
end

-- POST /echo/{id}/check {text}: the relay runs the job again and waits for it (process.exec).
local function check()
  local req, res = http.request(), http.response()
  local body = req:body_json()
  local text = type(body) == "table" and body.text or nil
  local _, err = process.send("relay", "check", { id = req:param("id"), text = text })
  if err then return reply(res, 503, { error = err:message() }) end
  return reply(res, 202, { checking = req:param("id") })
end

-- POST /relay/crash: the relay crashes on purpose; its service restarts it.
local function crash()
  local res = http.response()
  local _, err = process.send("relay", "crash")
  if err then return reply(res, 503, { error = err:message() }) end
  return reply(res, 202, { crashing = "relay" })
end

return { submit = submit, answer = answer, check = check, crash = crash }
