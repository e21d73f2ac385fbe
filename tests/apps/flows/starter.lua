-- A function that starts a workflow with process.spawn and signals it by its address.
return {
  handler = function()
    local address, err = process.spawn("app:approval", "app:flows", { wait = "1h" })
    if err then return nil, err end
    process.send(address, "approve", "a function")
    local _, refused = process.spawn_monitored("app:approval", "app:flows", { wait = "1h" })
    return { address = address, refused = refused and refused:message() }
  end,
}
