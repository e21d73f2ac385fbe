-- Runtime type values of Wippy's typed Lua: what `Point(v)`, `Point:is(v)`, `string(v)` and
-- `Point:fields()` work on. runtime/dialect turns a chunk's top-level `type` declarations into
-- calls of the constructors below (`__wippy_types.record{...}` and so on); `kit.new_types`
-- builds one such table per entry environment, so names resolve within that chunk.
--
-- A type value is a table with `type_mt`. Names inside a type (`Point`, `T`, `number`) are
-- resolved when a value is checked, so declarations may come in any order and refer to each
-- other. Checks read tables raw (metatables are not consulted) and allow extra record fields,
-- as Wippy's do; function types accept any function (signatures are not checked).
--
-- Loaded once per Lua state by runtime/sandbox.py with the prelude's `kit`.

local kit = ...
local type, pairs, ipairs, next, rawget, rawlen, rawequal = type, pairs, ipairs, next, rawget,
  rawlen, rawequal
local setmetatable, getmetatable, tostring, select, error = setmetatable, getmetatable, tostring,
  select, error
local math_type, math_floor, huge = math.type, math.floor, math.huge
local concat, sformat = table.concat, string.format

local type_mt = { __metatable = "type" }
local methods = {}

local function is_type(v)
  return type(v) == "table" and getmetatable(v) == "type"
end
kit.is_type = is_type

local function new(t) return setmetatable(t, type_mt) end

---------------------------------------------------------------------------------------------
-- Resolution: a ref (a name, maybe with type arguments) becomes the type it names.
---------------------------------------------------------------------------------------------
local PRIMITIVES = {
  ["nil"] = true, boolean = true, number = true, integer = true, string = true, any = true,
  unknown = true, never = true, table = true, userdata = true, thread = true,
}
local primitive_values = {}
for name in pairs(PRIMITIVES) do
  primitive_values[name] = new({ kind_ = name, name_ = name })
end

-- `scope` maps type parameter names to their arguments; `registry` is the chunk's types.
-- `annotations`, when given, collects the validators met on the way: an alias's own
-- (`type Score = number @min(0)`) apply wherever it is used.
local function resolve(t, scope, annotations)
  local depth = 0
  while true do
    if annotations ~= nil then
      local a = rawget(t, "annotations_")
      if a ~= nil then annotations[#annotations + 1] = a end
    end
    local kind = t.kind_
    if kind == "ref" then
      depth = depth + 1
      if depth > 100 then error("type " .. tostring(t.ref_) .. " refers to itself", 0) end
      local name = t.ref_
      local found = scope and scope.bindings and scope.bindings[name]
      if found ~= nil then
        t, scope = found.type, found.scope
      else
        local registry = t.registry_
        local declared = registry and registry[name]
        if declared ~= nil then
          if t.args_ ~= nil then
            t, scope = declared:instantiate(t.args_, scope)
          else
            t, scope = declared, nil
          end
        elseif primitive_values[name] then
          return primitive_values[name], scope
        else
          -- A type this chunk does not declare (another module's, a checker-only name):
          -- nothing to check it against, so it accepts any value.
          return primitive_values.any, scope
        end
      end
    elseif kind == "declared" then
      if t.tparams_ ~= nil and not t.bound_ then return t, scope end
      t, scope = t.body_, t.scope_
    else
      return t, scope
    end
  end
end

---------------------------------------------------------------------------------------------
-- Text of a type (tostring, error messages).
---------------------------------------------------------------------------------------------
local describe
local function describe_list(list, sep)
  local parts = {}
  for i = 1, #list do parts[i] = describe(list[i]) end
  return concat(parts, sep)
end
describe = function(t)
  if t.name_ ~= nil then return t.name_ end
  local k = t.kind_
  if k == "ref" then
    if t.args_ then return t.ref_ .. "<" .. describe_list(t.args_, ", ") .. ">" end
    return t.ref_
  elseif k == "literal" then
    local v = t.value_
    return type(v) == "string" and sformat("%q", v) or tostring(v)
  elseif k == "optional" then return describe(t.inner_) .. "?"
  elseif k == "union" then return describe_list(t.members_, " | ")
  elseif k == "intersection" then return describe_list(t.members_, " & ")
  elseif k == "array" then return "{" .. describe(t.elem_) .. "}"
  elseif k == "map" then return "{[" .. describe(t.key_) .. "]: " .. describe(t.val_) .. "}"
  elseif k == "record" then
    local parts = {}
    for i, f in ipairs(t.fields_) do
      parts[i] = f.name .. (f.optional and "?: " or ": ") .. describe(f.type)
    end
    return "{" .. concat(parts, ", ") .. "}"
  elseif k == "function" then return "function"
  end
  return k
end

---------------------------------------------------------------------------------------------
-- Checking a value.
---------------------------------------------------------------------------------------------
local check

local function where(path)
  if path == "" then return "" end
  return path .. ": "
end

local function lua_type_of(v)
  return type(v)
end

-- What a value was expected to be, as Wippy's :is words it: the Lua type a table or function
-- type needs, a primitive's or literal's own name, the members of a union.
local function expectation(t)
  local k = t.kind_
  if k == "record" or k == "map" or k == "array" or k == "tuple" then return "table" end
  if k == "function" then return "function" end
  if k == "union" or k == "intersection" then
    local parts = {}
    for i = 1, #t.members_ do
      parts[i] = expectation((resolve(t.members_[i], nil)))
    end
    return concat(parts, k == "union" and " | " or " & ")
  end
  if k == "literal" then return describe(t) end
  return t.name_ or k
end

local function expected(t, v, path)
  return where(path) .. "expected " .. expectation(t) .. ", got " .. lua_type_of(v)
end

local function length_of(v)
  if type(v) == "string" then return #v end
  if type(v) == "table" then return rawlen(v) end
  return nil
end

local function validate(annotations, v, path)
  for i = 1, #annotations do
    local a = annotations[i]
    local name, arg = a[1], a[2]
    if name == "min" then
      if type(v) == "number" and v < arg then
        return where(path) .. sformat("value %s is below the minimum %s (@min)", tostring(v), tostring(arg))
      end
    elseif name == "max" then
      if type(v) == "number" and v > arg then
        return where(path) .. sformat("value %s is above the maximum %s (@max)", tostring(v), tostring(arg))
      end
    elseif name == "min_len" then
      local n = length_of(v)
      if n ~= nil and n < arg then
        return where(path) .. sformat("length %d is below the minimum length %d (@min_len)", n, arg)
      end
    elseif name == "max_len" then
      local n = length_of(v)
      if n ~= nil and n > arg then
        return where(path) .. sformat("length %d is above the maximum length %d (@max_len)", n, arg)
      end
    elseif name == "pattern" then
      if type(v) == "string" then
        local ok, err = kit.regex_search(arg, v)
        if err ~= nil then return where(path) .. "@pattern: " .. tostring(err) end
        if not ok then
          return where(path) .. sformat("value %q does not match the pattern %s", v, tostring(arg))
        end
      end
    end
  end
  return nil
end

local function join(path, key)
  if type(key) == "number" then return path .. "[" .. key .. "]" end
  if path == "" then return tostring(key) end
  return path .. "." .. tostring(key)
end

local function is_integral(v)
  if math_type(v) == "integer" then return true end
  return math_type(v) == "float" and v == math_floor(v) and v ~= huge and v ~= -huge
end

check = function(t, v, path, scope)
  local collected = {}
  t, scope = resolve(t, scope, collected)
  local k = t.kind_
  local err
  if k == "any" or k == "unknown" then
    err = nil
  elseif k == "never" then
    err = expected(t, v, path)
  elseif k == "nil" then
    if v ~= nil then err = expected(t, v, path) end
  elseif k == "boolean" or k == "string" or k == "table" or k == "userdata" or k == "thread" then
    if type(v) ~= k then err = expected(t, v, path) end
  elseif k == "number" then
    if type(v) ~= "number" then err = expected(t, v, path) end
  elseif k == "integer" then
    if not is_integral(v) then err = expected(t, v, path) end
  elseif k == "function" then
    if type(v) ~= "function" then err = expected(t, v, path) end
  elseif k == "literal" then
    if not rawequal(v, t.value_) and not (type(v) == "number" and v == t.value_) then
      err = expected(t, v, path)
    end
  elseif k == "optional" then
    if v ~= nil then return check(t.inner_, v, path, scope) end
  elseif k == "union" then
    err = expected(t, v, path)
    for i = 1, #t.members_ do
      if check(t.members_[i], v, path, scope) == nil then err = nil break end
    end
  elseif k == "intersection" then
    for i = 1, #t.members_ do
      err = check(t.members_[i], v, path, scope)
      if err ~= nil then break end
    end
  elseif k == "array" then
    if type(v) ~= "table" then
      err = expected(t, v, path)
    else
      for i = 1, rawlen(v) do
        local item = rawget(v, i)
        if item ~= nil then
          err = check(t.elem_, item, join(path, i), scope)
          if err ~= nil then break end
        end
      end
    end
  elseif k == "map" then
    if type(v) ~= "table" then
      err = expected(t, v, path)
    else
      for key, item in next, v do
        err = check(t.key_, key, path == "" and "[" .. tostring(key) .. "]"
          or path .. "[" .. tostring(key) .. "]", scope)
          or check(t.val_, item, join(path, key), scope)
        if err ~= nil then break end
      end
    end
  elseif k == "record" then
    if type(v) ~= "table" then
      err = expected(t, v, path)
    else
      for i = 1, #t.fields_ do
        local f = t.fields_[i]
        local item = rawget(v, f.name)
        if not (item == nil and f.optional) then
          err = check(f.type, item, join(path, f.name), scope)
          if err == nil and f.annotations then err = validate(f.annotations, item, join(path, f.name)) end
          if err ~= nil then break end
        end
      end
    end
  elseif k == "declared" then
    -- A generic type used without its arguments.
    err = where(path) .. "generic type " .. describe(t) .. " needs type arguments"
  end
  if err == nil and v ~= nil then
    for i = 1, #collected do
      err = validate(collected[i], v, path)
      if err ~= nil then break end
    end
  end
  return err
end

---------------------------------------------------------------------------------------------
-- Methods and metamethods of type values.
---------------------------------------------------------------------------------------------
local function self_and_value(self, ...)
  -- `T:is(v)` passes (T, v); `T.is(v)` passes (v) only.
  if select("#", ...) >= 1 then return ... end
  return self
end

local function bind_method(t, name)
  local m = methods[name]
  if m == nil then return nil end
  return function(first, ...)
    if rawequal(first, t) then return m(t, ...) end
    return m(t, first, ...)
  end
end

function methods.is(t, v)
  local err = check(t, v, "", nil)
  if err ~= nil then return nil, err end
  return v, nil
end

function methods.kind(t)
  local r = resolve(t, nil)
  local k = r.kind_
  if k == "declared" then return "generic" end
  if k == "instance" then return "instantiated" end
  return k
end

function methods.name(t) return t.name_ end

function methods.elem(t)
  local r = resolve(t, nil)
  return r.kind_ == "array" and r.elem_ or nil
end
function methods.key(t)
  local r = resolve(t, nil)
  return r.kind_ == "map" and r.key_ or nil
end
function methods.val(t)
  local r = resolve(t, nil)
  return r.kind_ == "map" and r.val_ or nil
end
function methods.inner(t)
  local r = resolve(t, nil)
  return r.kind_ == "optional" and r.inner_ or nil
end
function methods.ret(t)
  local r = resolve(t, nil)
  if r.kind_ ~= "function" or r.returns_ == nil then return nil end
  if #r.returns_ == 1 then return r.returns_[1] end
  return new({ kind_ = "tuple", members_ = r.returns_ })
end
function methods.params(t)
  local r = resolve(t, nil)
  local list = r.kind_ == "function" and r.params_ or {}
  local i = 0
  return function()
    i = i + 1
    return list[i]
  end
end

function methods.fields(t)
  local r = resolve(t, nil)
  local list = r.kind_ == "record" and r.fields_ or {}
  local i = 0
  return function()
    i = i + 1
    local f = list[i]
    if f == nil then return nil end
    return f.name, f.type
  end
end

function methods.variants(t)
  local r = resolve(t, nil)
  local list = r.kind_ == "union" and r.members_ or {}
  local i = 0
  return function()
    i = i + 1
    return list[i]
  end
end

function methods.tparams(t)
  local list = t.tparams_ or {}
  local i = 0
  return function()
    i = i + 1
    if list[i] == nil then return nil end
    return list[i], nil
  end
end

local sbyte = string.byte
local UNDERSCORE = sbyte("_")
type_mt.__index = function(t, key)
  -- The value's own fields all end in "_": an absent one is nil, never a lookup.
  if type(key) == "string" and sbyte(key, -1) == UNDERSCORE then return nil end
  local m = bind_method(t, key)
  if m ~= nil then return m end
  local r = resolve(t, nil)
  if r.kind_ == "record" then
    for i = 1, #r.fields_ do
      if r.fields_[i].name == key then return r.fields_[i].type end
    end
  end
  return nil
end

type_mt.__tostring = function(t) return describe(t) end

-- `level` is where the error points: the code that called the type.
local function call_type(t, level, ...)
  local n = select("#", ...)
  if n == 0 then error("type " .. describe(t) .. " expects at least 1 argument", level) end
  local types, values = 0, 0
  for i = 1, n do
    if is_type((select(i, ...))) then types = types + 1 else values = values + 1 end
  end
  if types > 0 and values > 0 then
    error("type " .. describe(t) .. " does not accept mixed type/value arguments", level)
  end
  if types > 0 then
    if t.kind_ ~= "declared" or t.tparams_ == nil then
      error("type " .. describe(t) .. " is not generic", level)
    end
    return (t:instantiate({ ... }, nil))
  end
  if n > 1 then
    error(sformat("type %s validation expects 1 value, got %d", describe(t), n), level)
  end
  local v = ...
  if check(t, v, "", nil) ~= nil then
    error("expected " .. describe(t) .. ", got " .. lua_type_of(v), level)
  end
  return v
end

type_mt.__call = function(t, ...)
  local v = call_type(t, 3, ...)
  return v
end

local function structural(t)
  local r = resolve(t, nil)
  return describe(setmetatable({ kind_ = r.kind_, value_ = r.value_, inner_ = r.inner_,
    members_ = r.members_, elem_ = r.elem_, key_ = r.key_, val_ = r.val_,
    fields_ = r.fields_ }, type_mt))
end

type_mt.__eq = function(a, b)
  return structural(a) == structural(b)
end

-- Subtyping, as far as runtime values can tell: the same structure, any/unknown above
-- everything, never below everything, integer below number, literals below their primitive,
-- a member below its union or optional.
local function subtype(a, b)
  local ra, rb = resolve(a, nil), resolve(b, nil)
  if structural(ra) == structural(rb) then return true end
  local ka, kb = ra.kind_, rb.kind_
  if kb == "any" or kb == "unknown" or ka == "never" then return true end
  if ka == "integer" and kb == "number" then return true end
  if ka == "literal" then
    local lt = type(ra.value_)
    if kb == lt or (kb == "integer" and math_type(ra.value_) == "integer") then return true end
  end
  if kb == "optional" then return ka == "nil" or subtype(ra, rb.inner_) end
  if kb == "union" then
    for i = 1, #rb.members_ do
      if subtype(ra, rb.members_[i]) then return true end
    end
  end
  if ka == "union" then
    for i = 1, #ra.members_ do
      if not subtype(ra.members_[i], rb) then return false end
    end
    return true
  end
  if ka == "array" and kb == "array" then return subtype(ra.elem_, rb.elem_) end
  if ka == "record" and kb == "record" then
    for _, fb in ipairs(rb.fields_) do
      local found = nil
      for _, fa in ipairs(ra.fields_) do if fa.name == fb.name then found = fa end end
      if found == nil then
        if not fb.optional then return false end
      elseif not subtype(found.type, fb.type) then
        return false
      end
    end
    return true
  end
  return false
end
type_mt.__le = subtype
type_mt.__lt = function(a, b) return subtype(a, b) and not (structural(a) == structural(b)) end

---------------------------------------------------------------------------------------------
-- Constructors (what runtime/dialect emits) and declarations.
---------------------------------------------------------------------------------------------
local declared_methods = {}

local function instantiate(self, args, scope)
  local params = self.tparams_
  if #args ~= #params then
    error(sformat("generic %s expects %d type arguments, got %d", self.name_, #params, #args), 3)
  end
  local bindings = {}
  for i = 1, #params do bindings[params[i]] = { type = args[i], scope = scope } end
  local inst = new({ kind_ = "declared", name_ = self.name_, body_ = self.body_,
    scope_ = { bindings = bindings }, tparams_ = params, bound_ = true })
  return inst, nil
end

--- The `__wippy_types` table of one entry environment; `env` gets a declared type as a
--- global when the global is unset (as Wippy's loader injects them).
function kit.new_types(env)
  local registry = {}
  local T = {}
  function T.ref(name, args)
    return new({ kind_ = "ref", ref_ = name, args_ = args, registry_ = registry })
  end
  function T.literal(v) return new({ kind_ = "literal", value_ = v }) end
  function T.optional(t) return new({ kind_ = "optional", inner_ = t }) end
  function T.union(list) return new({ kind_ = "union", members_ = list }) end
  function T.intersection(list) return new({ kind_ = "intersection", members_ = list }) end
  function T.array(t) return new({ kind_ = "array", elem_ = t }) end
  function T.map(k, v) return new({ kind_ = "map", key_ = k, val_ = v }) end
  function T.func(params, returns)
    return new({ kind_ = "function", params_ = params, returns_ = returns })
  end
  function T.record(list)
    local fields = {}
    for i = 1, #list do
      local f = list[i]
      fields[i] = { name = f[1], type = f[2], optional = f[3], annotations = f[4] }
    end
    return new({ kind_ = "record", fields_ = fields })
  end
  function T.annotate(t, annotations)
    -- A copy, so an annotated use never changes the type it annotates.
    local copy = {}
    for k, v in next, t do copy[k] = v end
    copy.annotations_ = annotations
    return new(copy)
  end
  function T.define(name, tparams, body)
    local t = new({ kind_ = "declared", name_ = name, body_ = body, tparams_ = tparams,
      instantiate = instantiate })
    registry[name] = t
    if rawget(env, name) == nil then env[name] = t end
    return t
  end
  return T
end

--- A primitive type value (`string`, `integer`, ...), for the casts `string(v)` & co.
function kit.primitive_type(name)
  return primitive_values[name]
end

--- `string` stays the string library and becomes callable as the `string` cast.
function kit.string_type_metatable()
  local t = primitive_values.string
  return {
    __call = function(_, ...)
      local v = call_type(t, 3, ...)
      return v
    end,
    __index = function(_, key) return bind_method(t, key) end,
  }
end

return kit
