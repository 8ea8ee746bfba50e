-- wrk script: plain GET, and print exact results as one JSON line when done.
-- Usage: wrk -t1 -c64 -d10s --latency -s harness/get.lua http://127.0.0.1:PORT/1k

-- The reporter (post.lua loads it too): latencies in microseconds, errors as wrk counts them
-- (status = responses with a status of 400 or more; connect/read/write/timeout = socket errors).
function done(summary, latency, requests)
  local e = summary.errors
  local n = summary.requests
  local function pct(p) if n > 0 then return latency:percentile(p) else return 0 end end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    n, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    n > 0 and latency.min or 0, pct(50), pct(90), pct(99), pct(99.9), n > 0 and latency.max or 0))
end
