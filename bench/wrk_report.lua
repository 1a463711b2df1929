-- wrk script shared by every HTTP case. The request comes from the environment, so that one
-- script serves all cases without generating Lua (and escaping bodies) per case:
--   BENCH_METHOD   GET, POST, ...
--   BENCH_BODY     request body, may be empty
--   BENCH_HEADERS  "Name: value" lines separated by newlines
-- done() prints one JSON line prefixed with BENCH_RESULT, which the harness parses instead of
-- wrk's human-readable summary. Latencies are in microseconds.

wrk.method = os.getenv("BENCH_METHOD") or "GET"

local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then
  wrk.body = body
end

for name, value in (os.getenv("BENCH_HEADERS") or ""):gmatch("([^:\n]+):%s*([^\n]*)") do
  wrk.headers[name] = value
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "BENCH_RESULT {\"duration_us\":%d,\"requests\":%d,\"bytes\":%d," ..
    "\"connect_errors\":%d,\"read_errors\":%d,\"write_errors\":%d,\"timeouts\":%d," ..
    "\"status_errors\":%d,\"latency_mean_us\":%.1f,\"latency_p50_us\":%d," ..
    "\"latency_p90_us\":%d,\"latency_p99_us\":%d,\"latency_max_us\":%d}\n",
    summary.duration, summary.requests, summary.bytes,
    errors.connect, errors.read, errors.write, errors.timeout,
    errors.status, latency.mean, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max
  ))
end
