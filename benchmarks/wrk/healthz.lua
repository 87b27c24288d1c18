-- Baseline: GET /healthz through the same client and counting as the ingestion scripts.
-- wrk -s healthz.lua URL -- <window seconds>
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

function init(args)
  start_counting()
  stop_at = now() + tonumber(args[1])
end

function request()
  count_sent()
  return wrk.format("GET", "/healthz")
end
