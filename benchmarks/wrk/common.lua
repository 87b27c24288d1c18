-- Shared by the driftline ingestion wrk scripts (loaded with dofile from the driver).
-- Per-request work: the script builds each body (unique $insert_id), counts every response
-- by status and kind, and stops sending once the measured window is over so that every
-- request it sent is answered before wrk exits (no request is in flight at the end).
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } dl_timespec;
  int clock_gettime(int clk, dl_timespec *tp);
]]
local ts = ffi.new("dl_timespec")

function now()
  ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME, comparable across processes
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local b64 = {}
for i = 1, 64 do b64[i - 1] = b64chars:sub(i, i) end

function base64(s)
  local out, n = {}, #s
  for i = 1, n, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + (b or 0) * 256 + (c or 0)
    out[#out + 1] = b64[math.floor(v / 262144) % 64] .. b64[math.floor(v / 4096) % 64]
      .. (b and b64[math.floor(v / 64) % 64] or "=") .. (c and b64[v % 64] or "=")
  end
  return table.concat(out)
end

-- statistics of this thread (read by done() through thread:get)
counts = {}      -- status -> responses
sent = 0         -- requests sent
first_sent = 0   -- wall time of the first request
last_answer = 0  -- wall time of the last answer
stop_at = 0      -- no request starts after this wall time

threads = {} -- (main state) the threads, for done()

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_no", #threads)
end

function delay()
  if stop_at > 0 and now() >= stop_at then
    return 3600 * 1000 -- idle until wrk ends; latency of the idle time is not recorded
  end
  return 0
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  last_answer = now()
end

-- wrk calls request() once on the first thread's state before the run, to check it; that
-- request is never sent
function start_counting()
  if thread_no == 1 then sent = -1 end
end

function count_sent()
  sent = sent + 1
  if first_sent == 0 and sent > 0 then first_sent = now() end
end

function done(summary, latency, requests)
  local total, first, last, by_status = 0, math.huge, 0, {}
  for _, t in ipairs(threads) do
    total = total + t:get("sent")
    local f, l = t:get("first_sent"), t:get("last_answer")
    if f > 0 and f < first then first = f end
    if l > last then last = l end
    for status, n in pairs(t:get("counts")) do
      by_status[status] = (by_status[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(by_status) do parts[#parts + 1] = string.format('"%d": %d', status, n) end
  io.write(string.format(
    'WRKRESULT {"sent": %d, "statuses": {%s}, "first_sent": %.6f, "last_answer": %.6f, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "socket_errors": %d}\n',
    total, table.concat(parts, ", "), first, last,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
