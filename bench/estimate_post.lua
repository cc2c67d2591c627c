-- wrk script for POST /api/v1/estimates: one valid program estimate, sent as JSON.
--
-- bench/run.py passes the body in RETREAT_BENCH_ESTIMATE_BODY (and checks it once with a plain request,
-- expecting 201, before it measures anything); run by hand, the default below is used:
--   wrk -t2 -c16 -d10s --latency -s bench/estimate_post.lua http://127.0.0.1:PORT/api/v1/estimates
--
-- No request()/response() callbacks on purpose: they run Lua per request and would slow wrk down, and
-- wrk already counts responses with status >= 400 ("Non-2xx or 3xx responses"), which run.py refuses.

wrk.method = "POST"
wrk.body = os.getenv("RETREAT_BENCH_ESTIMATE_BODY")
    or '{"program": "iv-emdr-one-week", "lodging": "shared"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
