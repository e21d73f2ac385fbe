local http = require("http")
local http_client = require("http_client")
local json = require("json")
local store = require("store")
local sql = require("sql")
local cloudstorage = require("cloudstorage")
local queue = require("queue")
local hash = require("hash")
local env = require("env")

type Quote = {symbol: string, price: number}

local function fail(res, status: integer, message: string)
  res:set_status(status)
  res:write_json({error = message})
end

-- Keeps the quote everywhere it goes; the first error stops it and names the step.
local function keep(quote: Quote): (boolean?, any)
  local cache, err = store.get("app:cache")
  if err then return nil, err end
  local _, serr = cache:set("quote:" .. quote.symbol, quote, 300)
  if serr then return nil, serr end

  local db, derr = sql.get("app:db")
  if derr then return nil, derr end
  local _, cerr = db:execute(
    "CREATE TABLE IF NOT EXISTS quotes (symbol TEXT NOT NULL, price REAL NOT NULL)")
  if cerr then return nil, cerr end
  local _, ierr = db:execute(
    "INSERT INTO quotes (symbol, price) VALUES ($1, $2)", {quote.symbol, quote.price})
  if ierr then return nil, ierr end

  local files, ferr = cloudstorage.get("app:files")
  if ferr then return nil, ferr end
  local _, uerr = files:upload_object("quotes/" .. quote.symbol .. ".json", json.encode(quote),
    {content_type = "application/json"})
  if uerr then return nil, uerr end

  return queue.publish("app:quotes", quote)
end

local function main()
  local req, res = http.request(), http.response()
  local body, err = req:body_json()
  if err or type(body) ~= "table" or type(body.symbol) ~= "string" then
    return fail(res, http.STATUS.BAD_REQUEST, "expected {\"symbol\": \"...\"}")
  end
  local api = env.get("PRICE_API")
  local answer, herr = http_client.get(api .. "/price/" .. body.symbol, {timeout = "5s"})
  if herr then
    return fail(res, http.STATUS.BAD_GATEWAY, "price API: " .. herr:message())
  end
  if answer.status_code ~= 200 then
    return fail(res, http.STATUS.BAD_GATEWAY, "price API answered " .. answer.status_code)
  end
  local price = json.decode(answer.body)
  local quote: Quote = {symbol = body.symbol, price = price.price}
  local ok, kerr = keep(quote)
  if not ok then
    return fail(res, http.STATUS.INTERNAL_ERROR, kerr:message())
  end
  local db = sql.get("app:db")
  local rows = db:query("SELECT COUNT(*) AS n FROM quotes WHERE symbol = $1", {quote.symbol})
  local out = json.encode({symbol = quote.symbol, price = quote.price, seen = rows[1].n})
  res:set_header("X-Signature", hash.hmac_sha256(out, env.get("SIGNING_KEY")))
  res:set_content_type(http.CONTENT.JSON)
  res:set_status(http.STATUS.OK)
  res:write(out)
end

return main
