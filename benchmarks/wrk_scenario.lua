-- wrk script for benchmarks/loadgen.py: cycles through pre-rendered request bodies, counts HTTP
-- errors and responses without the expected text, and prints one JSON line when done.
--   wrk -s benchmarks/wrk_scenario.lua URL -- METHOD PATH BODIES_FILE EXPECT
-- BODIES_FILE holds one JSON body per line ("-" for none); EXPECT is a substring every good
-- response body contains ("-" for no check).

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  method, path, expect = args[1], args[2], args[4]
  bodies = {}
  if args[3] ~= "-" then
    for line in io.lines(args[3]) do
      bodies[#bodies + 1] = line
    end
  end
  -- each thread starts at a different place in the list
  cursor = (id * 7919) % math.max(#bodies, 1)
  failed, wrong, first_error = 0, 0, ""
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  if #bodies == 0 then
    return wrk.format(method, path)
  end
  cursor = cursor % #bodies + 1
  return wrk.format(method, path, nil, bodies[cursor])
end

function response(status, headers, body)
  if status >= 400 then
    failed = failed + 1
    if first_error == "" then
      first_error = "HTTP " .. status .. ": " .. string.sub(body, 1, 200)
    end
  elseif expect ~= "-" and not string.find(body, expect, 1, true) then
    wrong = wrong + 1
  end
end

local function quote(text)
  return '"' .. string.gsub(text, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local failed_total, wrong_total, first = 0, 0, ""
  for _, thread in ipairs(threads) do
    failed_total = failed_total + thread:get("failed")
    wrong_total = wrong_total + thread:get("wrong")
    if first == "" then
      first = thread:get("first_error")
    end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "http_errors": %d, "socket_errors": %d, "wrong": %d,'
      .. ' "p50_us": %d, "p95_us": %d, "p99_us": %d, "first_error": %s}\n',
    summary.requests, summary.duration / 1e6, failed_total,
    e.connect + e.read + e.write + e.timeout, wrong_total,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), quote(first)
  ))
end
