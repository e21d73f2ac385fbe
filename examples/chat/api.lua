-- The HTTP side of the chat. A function cannot read an actor's state, and a room applies what
-- it is sent in its own turn, later; so these handlers check what they can (the shape of the
-- request, whether the room is running), hand the rest to the room with process.send, and
-- answer 202 Accepted: "the room has it", never "it is done".
local http = require("http")

local MAX_NAME, MAX_TEXT = 32, 500

local api = {}

local function reply(status, body)
  local res = http.response()
  res:set_status(status)
  res:write_json(body)
end

-- Rooms are registered under "room.<name>", and a name is only letters, digits, '_' and
-- '-': a request can reach a room and nothing else (no other named process, no raw pid).
local function room_of(req)
  local room = req:param("room")
  if not room:match("^[%w_-]+$") then
    return nil
  end
  return room, "room." .. room
end

local function no_room(room)
  reply(404, { error = string.format("no room named '%s' is running", room) })
end

local function check_name(value, field)
  if type(value) ~= "string" or value == "" then
    return string.format("'%s' must be a non-empty string", field)
  end
  if #value > MAX_NAME or not value:match("^[%w_-]+$") then
    return string.format(
      "'%s' must be at most %d letters, digits, '_' or '-'", field, MAX_NAME)
  end
end

-- The request body as a JSON object, or nil and what is wrong with it.
local function json_object(req)
  local body, err = req:body_json()
  if err then
    return nil, err:message()
  end
  -- JSON arrays arrive as Lua sequences; only an object carries named fields.
  if type(body) ~= "table" or body[1] ~= nil then
    return nil, "the body must be a JSON object"
  end
  return body
end

-- Sends to the room; a room that is not running (say, between a crash and its restart) has
-- no registered name, which process.send reports as errors.NOT_FOUND.
local function tell(room, registered, topic, payload, accepted)
  local ok, err = process.send(registered, topic, payload)
  if ok then
    return reply(202, accepted)
  end
  if err:kind() == errors.NOT_FOUND then
    return no_room(room)
  end
  reply(500, { error = err:message() })
end

-- POST /rooms/{room}/members {"name": "ada"}
function api.join()
  local req = http.request()
  local room, registered = room_of(req)
  if not room then
    return no_room(req:param("room"))
  end
  local body, problem = json_object(req)
  problem = problem or check_name(body.name, "name")
  if problem then
    return reply(400, { error = problem })
  end
  tell(room, registered, "join", { name = body.name }, { room = room, name = body.name })
end

-- DELETE /rooms/{room}/members/{name}
function api.leave()
  local req = http.request()
  local room, registered = room_of(req)
  if not room then
    return no_room(req:param("room"))
  end
  local name = req:param("name")
  local problem = check_name(name, "name")
  if problem then
    return reply(400, { error = problem })
  end
  tell(room, registered, "leave", { name = name }, { room = room, name = name })
end

-- POST /rooms/{room}/messages {"from": "ada", "text": "hi"}
function api.post()
  local req = http.request()
  local room, registered = room_of(req)
  if not room then
    return no_room(req:param("room"))
  end
  local body, problem = json_object(req)
  problem = problem or check_name(body.from, "from")
  if not problem and (type(body.text) ~= "string" or body.text == "") then
    problem = "'text' must be a non-empty string"
  elseif not problem and #body.text > MAX_TEXT then
    problem = string.format("'text' is longer than %d bytes", MAX_TEXT)
  end
  if problem then
    return reply(400, { error = problem })
  end
  -- Only the fields the room needs travel: nothing else a client adds reaches its state.
  local message = { from = body.from, text = body.text }
  tell(room, registered, "post", message, { room = room, queued = true })
end

-- GET /rooms/{room}: whether the room is running, and as which process. The registry is the
-- one thing about a room a function can read; the conversation lives in the actors.
function api.show()
  local req = http.request()
  local room, registered = room_of(req)
  if not room then
    return no_room(req:param("room"))
  end
  local pid = process.registry.lookup(registered)
  if not pid then
    return no_room(room)
  end
  reply(200, { room = room, pid = pid })
end

return api
