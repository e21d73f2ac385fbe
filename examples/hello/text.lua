local text = {}

function text.title(s)
  return (s:gsub("^%l", string.upper))
end

return text
