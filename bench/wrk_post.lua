-- wrk script for `make bench-ingest` and `make bench-scale`: POST signed deliveries, a fresh
-- delivery id each time. Arguments: BODIES_FILE RUN_PREFIX. BODIES_FILE holds one "SIGNATURE<TAB>BODY" per line
-- (compact JSON has no line breaks); request n sends line n modulo their number.
local threads = {}
local next_id = 1

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  signatures, bodies = {}, {}
  for line in io.lines(args[1]) do
    local tab = string.find(line, "\t", 1, true)
    table.insert(signatures, string.sub(line, 1, tab - 1))
    table.insert(bodies, string.sub(line, tab + 1))
  end
  prefix = args[2] .. "-" .. tid .. "-"
  sent = 0
end

function request()
  sent = sent + 1
  local n = (sent - 1) % #bodies + 1
  return wrk.format("POST", wrk.path, {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "issue_comment",
    ["X-GitHub-Delivery"] = prefix .. sent,
    ["X-Hub-Signature-256"] = signatures[n],
    ["User-Agent"] = "GitHub-Hookshot/bench",
  }, bodies[n])
end

function done(summary, latency, requests)
  local total_sent = 0
  for _, t in ipairs(threads) do total_sent = total_sent + t:get("sent") end
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "non2xx": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d, "sent": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, total_sent,
    latency:percentile(50), latency:percentile(99), latency.max))
end
