-- /import with JSON batches as the Mixpanel import API takes them: POST application/json,
-- Basic auth with the project secret, strict=1, every event with a unique $insert_id.
-- wrk -s import.lua URL -- <template file> <authorization header> <window seconds>
-- The template is a JSON array whose insert ids contain the marker @B@, replaced per request.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

local pieces, auth, seq, prefix

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local text = f:read("*a")
  f:close()
  pieces = {}
  local start = 1
  while true do
    local i, j = text:find("@B@", start, true)
    if not i then break end
    pieces[#pieces + 1] = text:sub(start, i - 1)
    start = j + 1
  end
  pieces[#pieces + 1] = text:sub(start)
  auth = args[2]
  start_counting()
  stop_at = now() + tonumber(args[3])
  prefix = string.format("i%d-%d-", thread_no or 1, math.floor(now() * 1000) % 100000000)
  seq = 0
end

function request()
  seq = seq + 1
  count_sent()
  local body = table.concat(pieces, prefix .. seq)
  return wrk.format("POST", "/import?strict=1",
    {["Content-Type"] = "application/json", ["Authorization"] = auth}, body)
end
