local funcs = require("funcs")

-- Values too large for a history event, in every place one can appear.
local function main(input)
  local big, err = funcs.call("app:big", input.size)
  local _, arg_err = funcs.call("app:double", string.rep("y", input.size))
  local ok, sent, send_err = pcall(process.send, "app:flows/nobody", "t", string.rep("z", input.size))
  if not ok then send_err = tostring(sent) elseif send_err then send_err = send_err:message() end
  if input.big_result then return string.rep("r", input.size) end
  return {
    got = big and #big,
    err = err and err:message(),
    kind = err and err:kind(),
    arg_err = arg_err and arg_err:message(),
    send_err = send_err,
  }
end

return { main = main }
