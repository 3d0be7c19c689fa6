-- post_events.lua - wrk script for the gateway benchmark (tests/bench/run.py).
--
--   wrk -t2 -c64 -d10s -s tests/bench/post_events.lua http://127.0.0.1:PORT \
--       -- INGEST_KEY EVENTS_PER_REQUEST
--
-- Every request is POST /v1/events with Authorization: Bearer INGEST_KEY and
-- a JSON body of EVENTS_PER_REQUEST "customer" events (~200-byte data each):
-- one event is sent as a single object, more as an array.  The events carry
-- no "id" and the request no Idempotency-Key, so the gateway gives each
-- event a random journal key: every 202 stores EVENTS_PER_REQUEST new events.
--
-- The body is built once per thread in init(), so wrk sends a static request
-- and spends as little CPU as it can (it shares the machine with the gateway).
-- done() prints one line "BENCH_JSON {...}" with wrk's summary for run.py.

local function customer(n)
  return string.format(
    '{"type":"customer","data":{"id":"c%d","email":"customer.%d@example.com",' ..
    '"name":"Customer Number %d","locale":"en-GB","timezone":"Europe/London",' ..
    '"signup_date":"2024-01-31","attributes":{"plan":"gold","source":"bench",' ..
    '"visits":%d,"newsletter":true}}}', n, n, n, n % 1000)
end

function init(args)
  local key = args[1] or "missing-key"
  local n = tonumber(args[2] or "1")
  local body
  if n == 1 then
    body = customer(1)
  else
    local parts = {}
    for i = 1, n do parts[i] = customer(i) end
    body = "[" .. table.concat(parts, ",") .. "]"
  end
  wrk.method = "POST"
  wrk.path = "/v1/events"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_ms":{"mean":%.3f,"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
