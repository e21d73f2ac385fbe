-- Wippy's http_client module table (en/lua/http/client.md). Each request yields the running
-- task to the scheduler ("http_client" / "http_client_batch", runtime/modules/
-- http_client_module.py), which makes it on an I/O thread while the invocation's other tasks
-- run. Durable code (workflows, loop-style processes) is refused here: a request is an effect a replay would repeat.
-- A request is made without a yield when its task is the only one that could run meanwhile
-- (`direct`, see the module). Loaded with (await, direct, current_task, new_error, encode_uri,
-- decode_uri); returns the module.

local await, direct, current_task, new_error, encode_uri, decode_uri = ...

local function refused(name)
  return nil, new_error("Invalid", "http_client." .. name .. ": not allowed in durable code "
    .. "(a workflow or a loop-style process: a request is an effect its replay would "
    .. "repeat): make it in a function and call that function with funcs.call (its result "
    .. "is recorded; in a workflow it runs as an activity)", nil, false)
end

local function in_workflow()
  local task = current_task()
  return task ~= nil and task.durable == true
end

local function request(name, verb, url, options)
  local made, response, err = direct(name, verb, url, options)
  if made then return response, err end
  if made == false then return await("http_client_wait") end
  return await("http_client", name, verb, url, options)
end

local function method(verb, name)
  return function(url, options)
    if in_workflow() then return refused(name) end
    return request(name, verb, url, options)
  end
end

local M = {
  get = method("GET", "get"),
  post = method("POST", "post"),
  put = method("PUT", "put"),
  delete = method("DELETE", "delete"),
  head = method("HEAD", "head"),
  patch = method("PATCH", "patch"),
}

function M.request(verb, url, options)
  if in_workflow() then return refused("request") end
  return request("request", verb, url, options)
end

function M.request_batch(requests)
  if in_workflow() then return refused("request_batch") end
  return await("http_client_batch", requests)
end

M.encode_uri = encode_uri
M.decode_uri = decode_uri

return M
