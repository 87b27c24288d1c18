-- /track as mixpanel-browser sends it: POST form body data=<base64 JSON array of one event>,
-- query verbose=1&ip=1, a unique $insert_id per request.
-- wrk -s track.lua URL -- <token> <window seconds>
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

local token, seq, prefix

function init(args)
  token = args[1]
  start_counting()
  stop_at = now() + tonumber(args[2])
  prefix = string.format("t%d-%d-", thread_no or 1, math.floor(now() * 1000) % 100000000)
  seq = 0
end

local function pct(c)
  return string.format("%%%02X", c:byte())
end

function request()
  seq = seq + 1
  count_sent()
  local device = "dev-" .. (seq % 3000)
  local event = string.format(
    '[{"event":"Page View","properties":{"token":"%s","time":%.3f,"distinct_id":"$device:%s",'
      .. '"$device_id":"%s","$insert_id":"%s%d","$current_url":"https://example.com/p/%d",'
      .. '"$browser":"Chrome","mp_lib":"web","$lib_version":"2.83.0"}}]',
    token, now(), device, device, prefix, seq, seq % 40)
  local body = "data=" .. base64(event):gsub("[+/=]", pct)
  return wrk.format("POST", "/track/?verbose=1&ip=1",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
