-- The Lua side of the sql module (runtime/modules/sql_module.py): handles for databases,
-- statements and transactions over the host's functions, the constants, the typed
-- parameters and the query builder. Host calls answer `value, nil`, `nil, err`, or
-- `ticket, true` for a PostgreSQL call running on an I/O thread (awaited here).
local host, kit = ...
local await, new_error = kit.await, kit.new_error
local type, error, setmetatable, tostring, select = type, error, setmetatable, tostring, select
local sformat, tconcat, unpack, ipairs, pairs = string.format, table.concat, table.unpack,
  ipairs, pairs
local sort = table.sort

local query_plain = host.query_plain
local function invalid(message) return nil, new_error("Invalid", message, nil, false) end

local function finish(value, flag)
  if flag == true then return await("io", value) end
  return value, flag
end

-- A query's answer: `ncols, nrows, shape, names..., values...` (a small result, row by row;
-- a NULL is nil, so the field is absent) made into row tables here, or `rows, nil`,
-- `nil, err`, `ticket, true` (awaited, then read again). A shape above 0 numbers the
-- column names: sent once with them, then alone (`known`: shapes 1..known are kept).
local shapes, known = {}, 0
local function rows(a, b, s, ...)
  if b == true then return rows(await("io", a)) end
  if type(a) ~= "number" then return a, b end
  local v, out = { ... }, {}
  local names, k = shapes[s], 0
  if names == nil or s > known then
    names, k = { unpack(v, 1, a) }, a
    if s > 0 then
      shapes[s] = names
      while shapes[known + 1] ~= nil do known = known + 1 end
    end
  end
  for r = 1, b do
    local rec = {}
    for c = 1, a do
      local x = v[k + c]
      if x ~= nil then rec[names[c]] = x end
    end
    k = k + a
    out[r] = rec
  end
  return out
end

-- Typed parameters (sql.as.*, sql.NULL): opaque values, known by this weak table.
local typed = setmetatable({}, { __mode = "k" })
local typed_mt = { __metatable = "sql.Value" }
typed_mt.__tostring = function(v) return "sql.Value{" .. typed[v][1] .. "}" end
local function new_typed(kind, value)
  local v = setmetatable({}, typed_mt)
  typed[v] = { kind, value }
  return v
end

-- Parameters as flat (kind, value) pairs for the host; nil, err for one that cannot bind.
local function flatten(params, n_hint)
  if params == nil then return {}, 0 end
  if type(params) ~= "table" or typed[params] ~= nil then
    return nil, "params must be an array table"
  end
  local n = n_hint or #params
  local out, j = {}, 0
  for i = 1, n do
    local v = params[i]
    local t = typed[v]
    if t ~= nil then
      out[j + 1], out[j + 2] = t[1], t[2]
    elseif type(v) == "table" or type(v) == "function" or type(v) == "userdata"
      or type(v) == "thread" then
      return nil, sformat("params[%d]: a %s cannot be bound", i, type(v))
    else
      out[j + 1], out[j + 2] = false, v
    end
    j = j + 2
  end
  return out, j
end

local function own(map, self, what, method)
  local h = map[self]
  if h == nil then
    error(sformat("sql %s:%s: call it on a %s, with ':'", what, method, what), 3)
  end
  return h
end

local function check_sql(sql, method)
  if type(sql) ~= "string" then
    error(sformat("sql %s: the SQL must be a string, got %s", method, type(sql)), 3)
  end
end

local function run(fn, id, tx, sql, params)
  local flat, n = flatten(params)
  if flat == nil then return invalid(n) end
  return (fn == host.query and rows or finish)(fn(id, tx, sql, unpack(flat, 1, n)))
end

-- Statements ---------------------------------------------------------------------------
local stmts = setmetatable({}, { __mode = "k" })
local stmt_mt = { __metatable = "sql.Statement" }
local stmt_methods = {}
stmt_mt.__index = stmt_methods
stmt_mt.__tostring = function() return "sql.Statement{}" end

local function stmt_call(kind)
  return function(self, params)
    local h = own(stmts, self, "statement", kind)
    if h.closed then return invalid("statement is closed") end
    local flat, n = flatten(params)
    if flat == nil then return invalid(n) end
    return (kind == "query" and rows or finish)(host.stmt_run(h.id, kind, unpack(flat, 1, n)))
  end
end
stmt_methods.query = stmt_call("query")
stmt_methods.execute = stmt_call("execute")
function stmt_methods.close(self)
  local h = own(stmts, self, "statement", "close")
  if h.closed then return invalid("statement is closed") end
  h.closed = true
  return host.stmt_close(h.id)
end

local function new_stmt(id)
  local s = setmetatable({}, stmt_mt)
  stmts[s] = { id = id, closed = false }
  return s
end

local function prepare(db_id, tx_id, sql)
  local id, err = finish(host.prepare(db_id, tx_id, sql))
  if id == nil then return nil, err end
  return new_stmt(id)
end

-- Transactions -------------------------------------------------------------------------
local txs = setmetatable({}, { __mode = "k" })
local tx_mt = { __metatable = "sql.Transaction" }
local tx_methods = {}
tx_mt.__index = tx_methods
tx_mt.__tostring = function() return "sql.Transaction{}" end

function tx_methods.db_type(self) return own(txs, self, "transaction", "db_type").kind end
function tx_methods.query(self, sql, params)
  local h = own(txs, self, "transaction", "query")
  check_sql(sql, "tx:query")
  return run(host.query, h.db, h.id, sql, params)
end
function tx_methods.execute(self, sql, params)
  local h = own(txs, self, "transaction", "execute")
  check_sql(sql, "tx:execute")
  return run(host.execute, h.db, h.id, sql, params)
end
function tx_methods.prepare(self, sql)
  local h = own(txs, self, "transaction", "prepare")
  check_sql(sql, "tx:prepare")
  return prepare(h.db, h.id, sql)
end
function tx_methods.commit(self)
  return finish(host.commit(own(txs, self, "transaction", "commit").id))
end
function tx_methods.rollback(self)
  return finish(host.rollback(own(txs, self, "transaction", "rollback").id))
end
local function savepoint_op(op)
  return function(self, name)
    local h = own(txs, self, "transaction", op)
    return finish(host.savepoint(h.id, op, name))
  end
end
tx_methods.savepoint = savepoint_op("savepoint")
tx_methods.rollback_to = savepoint_op("rollback_to")
tx_methods.release = savepoint_op("release")

-- Databases ----------------------------------------------------------------------------
local dbs = setmetatable({}, { __mode = "k" })
local db_mt = { __metatable = "sql.DB" }
local db_methods = {}
db_mt.__index = db_methods
db_mt.__tostring = function(self)
  local h = dbs[self]
  return (h ~= nil and h.released) and "sql.DB{released}" or "sql.DB{}"
end

local function live(self, method)
  local h = own(dbs, self, "db", method)
  if h.released then return nil end
  return h
end
local RELEASED = "database is released"

function db_methods.type(self)
  local h = live(self, "type")
  if h == nil then return invalid(RELEASED) end
  return h.kind
end
-- The most parameters db:query hands to host.query_plain as they are (a plain value each).
local PLAIN_MAX = 16
function db_methods.query(self, sql, params)
  local h = dbs[self]
  if h == nil or h.released then
    h = live(self, "query")
    if h == nil then return invalid(RELEASED) end
  end
  check_sql(sql, "db:query")
  if params == nil then return rows(query_plain(known, h.id, sql)) end
  if type(params) == "table" and typed[params] == nil then
    local n = #params
    if n <= PLAIN_MAX then
      for i = 1, n do
        local t = type(params[i])
        if t ~= "number" and t ~= "string" and t ~= "boolean" and t ~= "nil" then
          return run(host.query, h.id, 0, sql, params)
        end
      end
      return rows(query_plain(known, h.id, sql, unpack(params, 1, n)))
    end
  end
  return run(host.query, h.id, 0, sql, params)
end
function db_methods.execute(self, sql, params)
  local h = live(self, "execute")
  if h == nil then return invalid(RELEASED) end
  check_sql(sql, "db:execute")
  return run(host.execute, h.id, 0, sql, params)
end
function db_methods.prepare(self, sql)
  local h = live(self, "prepare")
  if h == nil then return invalid(RELEASED) end
  check_sql(sql, "db:prepare")
  return prepare(h.id, 0, sql)
end
function db_methods.begin(self, opts)
  local h = live(self, "begin")
  if h == nil then return invalid(RELEASED) end
  if opts ~= nil and type(opts) ~= "table" then return invalid("options must be a table") end
  opts = opts or {}
  local id, err = finish(host.begin(h.id, opts.isolation, opts.read_only))
  if id == nil then return nil, err end
  local t = setmetatable({}, tx_mt)
  txs[t] = { id = id, db = h.id, kind = h.kind }
  return t
end
function db_methods.stats(self)
  local h = live(self, "stats")
  if h == nil then return invalid(RELEASED) end
  return host.stats(h.id)
end
function db_methods.release(self)
  local h = own(dbs, self, "db", "release")
  if h.released then return invalid(RELEASED) end
  h.released = true
  return true
end

local M = {
  type = { POSTGRES = "postgres", MYSQL = "mysql", SQLITE = "sqlite", UNKNOWN = "unknown" },
  isolation = {
    DEFAULT = "default", READ_UNCOMMITTED = "read_uncommitted",
    READ_COMMITTED = "read_committed", WRITE_COMMITTED = "write_committed",
    REPEATABLE_READ = "repeatable_read", SERIALIZABLE = "serializable",
  },
}
M.NULL = new_typed("null", nil)
M.as = {
  int = function(v) return new_typed("int", v) end,
  float = function(v) return new_typed("float", v) end,
  text = function(v) return new_typed("text", v) end,
  binary = function(v) return new_typed("binary", v) end,
  null = function() return M.NULL end,
}

function M.get(id)
  if type(id) ~= "string" then
    error(sformat("sql.get: the database id must be a string, got %s", type(id)), 2)
  end
  if id == "" then return invalid("resource id is required") end
  local full, kind = host.acquire(id)
  if full == nil then return nil, kind end
  local d = setmetatable({}, db_mt)
  dbs[d] = { id = full, kind = kind, released = false }
  return d
end

-- The query builder ----------------------------------------------------------------------
-- Builders compose SQL with `?` markers and a list of arguments; to_sql renumbers the
-- markers in the chosen placeholder format. An expression (builder.expr, builder.eq, ...)
-- is a "sqlizer": { sql, args }.
local sqlizers = setmetatable({}, { __mode = "k" })
local sqlizer_mt = { __metatable = "sql.Sqlizer" }
sqlizer_mt.__tostring = function() return "sql.Sqlizer{}" end
local function sqlizer(sql, args)
  local s = setmetatable({}, sqlizer_mt)
  sqlizers[s] = { sql, args or {} }
  return s
end

local formats = setmetatable({}, { __mode = "k" })
local function format(name, render)
  local f = setmetatable({}, { __metatable = "sql.PlaceholderFormat",
    __tostring = function() return "sql.PlaceholderFormat{" .. name .. "}" end })
  formats[f] = render
  return f
end

local function append(list, items)
  for i = 1, (items.n or #items) do
    local v = items[i]
    if v == nil then v = M.NULL end
    list[#list + 1] = v
  end
end

local function sorted_keys(map)
  local keys = {}
  for k in pairs(map) do
    if type(k) ~= "string" then error("sql builder: condition keys must be column names", 4) end
    keys[#keys + 1] = k
  end
  sort(keys)
  return keys
end

local function placeholders(n)
  local q = {}
  for i = 1, n do q[i] = "?" end
  return tconcat(q, ", ")
end

-- A value inside a clause: a sqlizer is inlined (its args kept), anything else is bound.
local function value_sql(v, args)
  if v == nil then v = M.NULL end
  local s = sqlizers[v]
  if s ~= nil then
    append(args, s[2])
    return s[1]
  end
  args[#args + 1] = v
  return "?"
end

local function comparison(op, negated_in)
  return function(map)
    if type(map) ~= "table" then error("sql builder: expected a {column = value} table", 2) end
    local parts, args = {}, {}
    for _, col in ipairs(sorted_keys(map)) do
      local v = map[col]
      if (v == M.NULL) and (op == "=" or op == "<>") then
        parts[#parts + 1] = col .. (op == "=" and " IS NULL" or " IS NOT NULL")
      elseif type(v) == "table" and typed[v] == nil and sqlizers[v] == nil
        and (op == "=" or op == "<>") then
        if #v == 0 then
          parts[#parts + 1] = (op == "=") and "(1=0)" or "(1=1)"
        else
          parts[#parts + 1] = sformat("%s %s (%s)", col, negated_in, placeholders(#v))
          append(args, v)
        end
      else
        parts[#parts + 1] = sformat("%s %s %s", col, op, value_sql(v, args))
      end
    end
    return sqlizer(tconcat(parts, " AND "), args)
  end
end

-- A condition: a sqlizer, a {column = value} table (equality), or a string with args.
local function condition(cond, ...)
  if sqlizers[cond] ~= nil then return sqlizers[cond][1], sqlizers[cond][2] end
  if type(cond) == "table" then
    local s = sqlizers[comparison("=", "IN")(cond)]
    return s[1], s[2]
  end
  if type(cond) == "string" then return cond, { n = select("#", ...), ... } end
  error(sformat("sql builder: a condition must be a string, table or sqlizer, got %s",
    type(cond)), 3)
end

local function junction(word)
  return function(conds)
    if type(conds) ~= "table" then error("sql builder: expected an array of conditions", 2) end
    local parts, args = {}, {}
    for _, c in ipairs(conds) do
      local s, a = condition(c)
      if s ~= "" then
        parts[#parts + 1] = "(" .. s .. ")"
        append(args, a)
      end
    end
    if #parts == 0 then return sqlizer(word == "AND" and "(1=1)" or "(1=0)", {}) end
    return sqlizer("(" .. tconcat(parts, " " .. word .. " ") .. ")", args)
  end
end

local B = {}
B.expr = function(sql, ...)
  if type(sql) ~= "string" then error("sql.builder.expr: the SQL must be a string", 2) end
  return sqlizer(sql, { n = select("#", ...), ... })
end
B.eq, B.not_eq = comparison("=", "IN"), comparison("<>", "NOT IN")
B.lt, B.lte, B.gt, B.gte = comparison("<"), comparison("<="), comparison(">"), comparison(">=")
B.like, B.not_like = comparison("LIKE"), comparison("NOT LIKE")
B.and_, B.or_ = junction("AND"), junction("OR")

local function renumber(prefix)
  return function(sql)
    local n = 0
    -- "??" is an escaped literal "?".
    return (sql:gsub("%?%??", function(m)
      if m == "??" then return "?" end
      n = n + 1
      return prefix .. n
    end))
  end
end
B.question = format("question", function(sql) return (sql:gsub("%?%?", "?")) end)
B.default_placeholder = B.question
B.dollar = format("dollar", renumber("$"))
B.at = format("at", renumber("@p"))
B.colon = format("colon", renumber(":"))

local builders = setmetatable({}, { __mode = "k" })

local function new_builder(mt, state)
  state.format = B.question
  local b = setmetatable({}, mt)
  builders[b] = state
  return b
end

local function st(self, method)
  local s = builders[self]
  if s == nil then error(sformat("sql builder:%s: call it on a builder, with ':'", method), 3) end
  return s
end

local function columns_of(list, ...)
  for i = 1, select("#", ...) do
    local c = select(i, ...)
    if type(c) ~= "string" then error("sql builder: column names must be strings", 3) end
    list[#list + 1] = c
  end
end

local function clause(list, sql, ...)
  if type(sql) ~= "string" then error("sql builder: the SQL must be a string", 3) end
  list[#list + 1] = { sql, { n = select("#", ...), ... } }
end

local function add_where(s, cond, ...)
  local sql, args = condition(cond, ...)
  if sql ~= "" then s.where[#s.where + 1] = { sql, args } end
end

local function render_parts(parts, sep, args)
  local out = {}
  for i, p in ipairs(parts) do
    out[i] = p[1]
    append(args, p[2])
  end
  return tconcat(out, sep)
end

local function where_sql(s, args)
  if #s.where == 0 then return "" end
  return " WHERE " .. render_parts(s.where, " AND ", args)
end

local function tail_sql(s, args)
  local sql = ""
  if s.order and #s.order > 0 then sql = sql .. " ORDER BY " .. tconcat(s.order, ", ") end
  if s.limit then sql = sql .. " LIMIT " .. s.limit end
  if s.offset then sql = sql .. " OFFSET " .. s.offset end
  if s.suffix and #s.suffix > 0 then sql = sql .. " " .. render_parts(s.suffix, " ", args) end
  return sql
end

local function check_n(n, method)
  if math.type(n) ~= "integer" or n < 0 then
    error(sformat("sql builder:%s: expected a non-negative integer", method), 3)
  end
  return n
end

local executor_mt = { __metatable = "sql.QueryExecutor" }
local executors = setmetatable({}, { __mode = "k" })
local executor_methods = {}
executor_mt.__index = executor_methods

local function common(methods, render)
  function methods.placeholder_format(self, f)
    local s = st(self, "placeholder_format")
    if formats[f] == nil then
      error("sql builder:placeholder_format: expected sql.builder.question, dollar, at or colon", 2)
    end
    s.format = f
    return self
  end
  function methods.suffix(self, sql, ...)
    local s = st(self, "suffix")
    s.suffix = s.suffix or {}
    clause(s.suffix, sql, ...)
    return self
  end
  function methods.to_sql(self)
    local s = st(self, "to_sql")
    local args = {}
    local sql, err = render(s, args)
    if sql == nil then return nil, new_error("Invalid", err, nil, false) end
    return formats[s.format](sql), args
  end
  function methods.run_with(self, db)
    st(self, "run_with")
    if dbs[db] == nil and txs[db] == nil then
      error("sql builder:run_with: expected a database or a transaction", 2)
    end
    local e = setmetatable({}, executor_mt)
    executors[e] = { builder = self, db = db }
    return e
  end
  methods._raw = function(self)
    local s = st(self, "to_sql")
    local args = {}
    local sql, err = render(s, args)
    if sql == nil then error(err, 3) end
    return sql, args
  end
end

function executor_methods.to_sql(self)
  return executors[self].builder:to_sql()
end
function executor_methods.query(self)
  local e = executors[self]
  local sql, args = e.builder:to_sql()
  if sql == nil then return nil, args end
  return e.db:query(sql, args)
end
function executor_methods.exec(self)
  local e = executors[self]
  local sql, args = e.builder:to_sql()
  if sql == nil then return nil, args end
  return e.db:execute(sql, args)
end

-- SELECT
local select_mt, select_methods = { __metatable = "sql.SelectBuilder" }, {}
select_mt.__index = select_methods
local function render_select(s, args)
  if #s.columns == 0 then return nil, "select statements must have at least one result column" end
  local sql = "SELECT " .. (s.distinct and "DISTINCT " or "") .. tconcat(s.columns, ", ")
  if s.from then
    if s.from_select then
      local sub, sub_args = s.from[1]:_raw()
      sql = sql .. " FROM (" .. sub .. ") AS " .. s.from[2]
      append(args, sub_args)
    else
      sql = sql .. " FROM " .. s.from
    end
  end
  if #s.joins > 0 then sql = sql .. " " .. render_parts(s.joins, " ", args) end
  sql = sql .. where_sql(s, args)
  if #s.group > 0 then sql = sql .. " GROUP BY " .. tconcat(s.group, ", ") end
  if #s.having > 0 then sql = sql .. " HAVING " .. render_parts(s.having, " AND ", args) end
  return sql .. tail_sql(s, args)
end
common(select_methods, render_select)
function select_methods.from(self, t)
  if type(t) ~= "string" then error("sql builder:from: the table must be a string", 2) end
  st(self, "from").from = t
  return self
end
local function join(word)
  return function(self, sql, ...)
    if type(sql) ~= "string" then error("sql builder: the JOIN clause must be a string", 2) end
    local s = st(self, "join")
    s.joins[#s.joins + 1] = { word .. " " .. sql, { n = select("#", ...), ... } }
    return self
  end
end
select_methods.join = join("JOIN")
select_methods.left_join = join("LEFT JOIN")
select_methods.right_join = join("RIGHT JOIN")
select_methods.inner_join = join("INNER JOIN")
function select_methods.where(self, cond, ...) add_where(st(self, "where"), cond, ...) return self end
function select_methods.order_by(self, ...) columns_of(st(self, "order_by").order, ...) return self end
function select_methods.group_by(self, ...) columns_of(st(self, "group_by").group, ...) return self end
function select_methods.having(self, cond, ...)
  local s = st(self, "having")
  local sql, args = condition(cond, ...)
  s.having[#s.having + 1] = { sql, args }
  return self
end
function select_methods.limit(self, n) st(self, "limit").limit = check_n(n, "limit") return self end
function select_methods.offset(self, n) st(self, "offset").offset = check_n(n, "offset") return self end
function select_methods.columns(self, ...) columns_of(st(self, "columns").columns, ...) return self end
function select_methods.distinct(self) st(self, "distinct").distinct = true return self end

B.select = function(...)
  local s = { columns = {}, joins = {}, where = {}, group = {}, having = {}, order = {} }
  columns_of(s.columns, ...)
  return new_builder(select_mt, s)
end

-- INSERT
local insert_mt, insert_methods = { __metatable = "sql.InsertBuilder" }, {}
insert_mt.__index = insert_methods
local function render_insert(s, args)
  if not s.into then return nil, "insert statements must specify a table" end
  local sql = ""
  if s.prefix and #s.prefix > 0 then sql = render_parts(s.prefix, " ", args) .. " " end
  if sql == "" or not sql:upper():find("INTO") then
    sql = sql .. "INSERT " .. (#s.options > 0 and (tconcat(s.options, " ") .. " ") or "")
      .. "INTO "
  end
  sql = sql .. s.into
  if #s.columns > 0 then sql = sql .. " (" .. tconcat(s.columns, ",") .. ")" end
  if s.select then
    local sub, sub_args = s.select:_raw()
    sql = sql .. " " .. sub
    append(args, sub_args)
  else
    if #s.rows == 0 then return nil, "insert statements must have at least one set of values" end
    local rows = {}
    for i, row in ipairs(s.rows) do
      local vals = {}
      for j = 1, row.n do vals[j] = value_sql(row[j], args) end
      rows[i] = "(" .. tconcat(vals, ",") .. ")"
    end
    sql = sql .. " VALUES " .. tconcat(rows, ",")
  end
  if s.suffix and #s.suffix > 0 then sql = sql .. " " .. render_parts(s.suffix, " ", args) end
  return sql
end
common(insert_methods, render_insert)
function insert_methods.into(self, t)
  if type(t) ~= "string" then error("sql builder:into: the table must be a string", 2) end
  st(self, "into").into = t
  return self
end
function insert_methods.columns(self, ...) columns_of(st(self, "columns").columns, ...) return self end
function insert_methods.values(self, ...)
  local s = st(self, "values")
  s.rows[#s.rows + 1] = { n = select("#", ...), ... }
  return self
end
function insert_methods.set_map(self, map)
  local s = st(self, "set_map")
  if type(map) ~= "table" then error("sql builder:set_map: expected a {column = value} table", 2) end
  local keys = sorted_keys(map)
  s.columns = keys
  local row = { n = #keys }
  for i, k in ipairs(keys) do row[i] = map[k] end
  s.rows = { row }
  return self
end
function insert_methods.select(self, q)
  if getmetatable(q) ~= "sql.SelectBuilder" then
    error("sql builder:select: expected a select builder", 2)
  end
  st(self, "select").select = q
  return self
end
function insert_methods.prefix(self, sql, ...)
  local s = st(self, "prefix")
  s.prefix = s.prefix or {}
  clause(s.prefix, sql, ...)
  return self
end
function insert_methods.options(self, ...) columns_of(st(self, "options").options, ...) return self end

B.insert = function(t)
  local b = new_builder(insert_mt, { columns = {}, rows = {}, options = {} })
  if t ~= nil then b:into(t) end
  return b
end

-- UPDATE
local update_mt, update_methods = { __metatable = "sql.UpdateBuilder" }, {}
update_mt.__index = update_methods
local function render_update(s, args)
  if not s.table then return nil, "update statements must specify a table" end
  if #s.sets == 0 then return nil, "update statements must have at least one Set clause" end
  local sets = {}
  for i, kv in ipairs(s.sets) do sets[i] = kv[1] .. " = " .. value_sql(kv[2], args) end
  local sql = "UPDATE " .. s.table .. " SET " .. tconcat(sets, ", ")
  if s.from then
    if s.from_select then
      local sub, sub_args = s.from[1]:_raw()
      sql = sql .. " FROM (" .. sub .. ") AS " .. s.from[2]
      append(args, sub_args)
    else
      sql = sql .. " FROM " .. s.from
    end
  end
  return sql .. where_sql(s, args) .. tail_sql(s, args)
end
common(update_methods, render_update)
function update_methods.table(self, t)
  if type(t) ~= "string" then error("sql builder:table: the table must be a string", 2) end
  st(self, "table").table = t
  return self
end
function update_methods.set(self, col, v)
  if type(col) ~= "string" then error("sql builder:set: the column must be a string", 2) end
  local s = st(self, "set")
  s.sets[#s.sets + 1] = { col, v }
  return self
end
function update_methods.set_map(self, map)
  local s = st(self, "set_map")
  if type(map) ~= "table" then error("sql builder:set_map: expected a {column = value} table", 2) end
  for _, k in ipairs(sorted_keys(map)) do s.sets[#s.sets + 1] = { k, map[k] } end
  return self
end
function update_methods.where(self, cond, ...) add_where(st(self, "where"), cond, ...) return self end
function update_methods.order_by(self, ...) columns_of(st(self, "order_by").order, ...) return self end
function update_methods.limit(self, n) st(self, "limit").limit = check_n(n, "limit") return self end
function update_methods.offset(self, n) st(self, "offset").offset = check_n(n, "offset") return self end
function update_methods.from(self, t)
  if type(t) ~= "string" then error("sql builder:from: the table must be a string", 2) end
  st(self, "from").from = t
  return self
end
function update_methods.from_select(self, q, alias)
  if getmetatable(q) ~= "sql.SelectBuilder" or type(alias) ~= "string" then
    error("sql builder:from_select: expected a select builder and an alias", 2)
  end
  local s = st(self, "from_select")
  s.from, s.from_select = { q, alias }, true
  return self
end

B.update = function(t)
  local b = new_builder(update_mt, { sets = {}, where = {}, order = {} })
  if t ~= nil then b:table(t) end
  return b
end

-- DELETE
local delete_mt, delete_methods = { __metatable = "sql.DeleteBuilder" }, {}
delete_mt.__index = delete_methods
local function render_delete(s, args)
  if not s.from then return nil, "delete statements must specify a From table" end
  return "DELETE FROM " .. s.from .. where_sql(s, args) .. tail_sql(s, args)
end
common(delete_methods, render_delete)
function delete_methods.from(self, t)
  if type(t) ~= "string" then error("sql builder:from: the table must be a string", 2) end
  st(self, "from").from = t
  return self
end
function delete_methods.where(self, cond, ...) add_where(st(self, "where"), cond, ...) return self end
function delete_methods.order_by(self, ...) columns_of(st(self, "order_by").order, ...) return self end
function delete_methods.limit(self, n) st(self, "limit").limit = check_n(n, "limit") return self end
function delete_methods.offset(self, n) st(self, "offset").offset = check_n(n, "offset") return self end

B.delete = function(t)
  local b = new_builder(delete_mt, { where = {}, order = {} })
  if t ~= nil then b:from(t) end
  return b
end

M.builder = B
return M
