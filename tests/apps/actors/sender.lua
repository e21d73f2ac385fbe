return { handler = function(dest, topic, payload)
  local ok, err = process.send(dest, topic, payload)
  return { ok = ok, err = err and err:kind() }
end }
