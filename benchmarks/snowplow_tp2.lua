-- wrk script: POST /com.snowplowanalytics.snowplow/tp2 with 10-event payload_data bodies as
-- the JavaScript tracker sends them, every event with its own event id (eid).
-- The body template comes from benchmarks/snowplow_collector_wrk.py (env SP_TEMPLATE): a JSON
-- body whose ten eids read EID00000-0000-4000-8000-00000000000N; each request replaces them.
-- Counts the answers by status and writes them to SP_COUNTS (one "status count" a line).

local template_path = os.getenv("SP_TEMPLATE")
local run = tonumber(os.getenv("SP_RUN") or "0")
local counts_path = os.getenv("SP_COUNTS")
local threads = {}
local template

local function read_template()
  local f = assert(io.open(template_path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  template = read_template()
  sent = 0
  statuses = {}
  wrk.method = "POST"
  wrk.path = "/com.snowplowanalytics.snowplow/tp2"
  wrk.headers["Content-Type"] = "application/json; charset=utf-8"
  wrk.headers["User-Agent"] =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
  wrk.headers["Origin"] = "https://shop.example.com"
  -- the whole request (line, headers, body) once, cut where the eids' first 24 characters
  -- are: a request is then one table.concat, which leaves the CPU to the server (a gsub of
  -- the body and wrk.format per request cost ~8 µs per event here)
  local whole = wrk.format(nil, nil, nil, template)
  pieces, slots = {}, {}
  local pos = 1
  while true do
    local first, last = whole:find("EID00000-0000-4000-8000-", pos, true)
    if not first then
      break
    end
    table.insert(pieces, whole:sub(pos, first - 1))
    table.insert(pieces, "")
    table.insert(slots, #pieces)
    pos = last + 1
  end
  table.insert(pieces, whole:sub(pos))
  assert(#slots == 10, "the template should hold 10 eids")
end

function request()
  sent = sent + 1
  -- eid: <run 4 hex><thread 4 hex>-<request 4+3+3 hex>-<event 12 hex>: unique across runs,
  -- threads and requests; as long as the template's EID00000-0000-4000-8000- it replaces
  local prefix = string.format("%04x%04x-%04x-4%03x-8%03x-", run, tid, math.floor(sent / 16777216) % 65536,
    math.floor(sent / 4096) % 4096, sent % 4096)
  for _, i in ipairs(slots) do
    pieces[i] = prefix
  end
  return table.concat(pieces)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  local sent_total = 0
  for _, thread in ipairs(threads) do
    sent_total = sent_total + thread:get("sent")
    local s = thread:get("statuses")
    for status, n in pairs(s) do
      total[status] = (total[status] or 0) + n
    end
  end
  local f = assert(io.open(counts_path, "w"))
  f:write(string.format("sent %d\n", sent_total))
  for status, n in pairs(total) do
    f:write(string.format("%d %d\n", status, n))
  end
  f:close()
end
