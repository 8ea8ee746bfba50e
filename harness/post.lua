-- wrk script: POST a small JSON body, and print exact results as one JSON line when done.
-- Usage: wrk -t1 -c64 -d10s --latency -s harness/post.lua http://127.0.0.1:PORT/echo

wrk.method = "POST"
wrk.body = '{"id":12345,"name":"roundabout","tags":["bench","small"],"ok":true}'
wrk.headers["Content-Type"] = "application/json"

-- The reporter, done(), is get.lua's (beside this file): one copy of the BENCH_JSON format.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "get.lua")
