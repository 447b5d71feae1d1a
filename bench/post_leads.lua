-- wrk script: POST /leads with a distinct valid lead on every request.
--
-- Usage: wrk -s post_leads.lua URL -- API_KEY OFFSET STRIDE [VARIANT]
--   API_KEY  sent as "Authorization: Bearer API_KEY" (so the body may carry ip_address)
--   OFFSET   first lead number of this wrk run
--   STRIDE   lead numbers reserved per thread (a thread must send fewer requests)
--   VARIANT  plain (default): the four v1 fields;
--            attribution: the same plus all eight attribution members and an
--              Idempotency-Key header, both distinct per lead;
--            duplicate: one and the same lead (number 9,999,999) on every request, so
--              every request after the first is a 409;
--            form5: POST /f/form5 (the form bench/v2.py creates) with a value for each
--              of its five custom fields: text, select, number, date, checkbox
-- Thread t's c-th request is lead k = OFFSET + t * STRIDE + c, so threads never collide
-- and runs given disjoint ranges never do either. Lead k has email lead<k>@example.com,
-- phone +44 20 7xxx xxxx with k as the 7 digits (every such London number is valid) and
-- IP 10.0.0.0 + k; k must stay below 10,000,000. (wrk calls request() once on thread
-- 0 to check the script, so that thread's first lead number is never sent.) done() prints one JSON line for
-- bench/wrk.py: requests, latency percentiles and the count of every status.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local api_key = args[1] or ""
  offset = tonumber(args[2] or "0")
  stride = tonumber(args[3] or "100000")
  variant = args[4] or "plain"
  counter = 0
  statuses = {}
  headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. api_key,
  }
end

local plans = {"starter", "team", "enterprise"}

local function form5_fields(k)
  return string.format(
    ', "fields": {"company": "Company %d", "plan": "%s", "seats": %d, '
      .. '"start_date": "2027-%02d-%02d", "terms": true}',
    k, plans[k % 3 + 1], k % 1000 + 1, k % 12 + 1, k % 28 + 1
  )
end

local function attribution(k)
  return string.format(
    ', "attribution": {"source": "bench-partner", "utm_source": "newsletter", '
      .. '"utm_medium": "email", "utm_campaign": "winter-%d", "utm_term": "lead %d", '
      .. '"utm_content": "banner-%d", "page_url": "https://example.com/landing?lead=%d", '
      .. '"referrer": "https://www.example.org/search?q=lead+%d"}',
    k % 10, k, k % 7, k, k
  )
end

function request()
  local k = offset + tid * stride + counter
  counter = counter + 1
  if variant == "duplicate" then
    k = 9999999
  end
  local extra = ""
  local path = "/leads"
  if variant == "attribution" then
    extra = attribution(k)
    headers["Idempotency-Key"] = string.format("bench-%d-%d", offset, k)
  elseif variant == "form5" then
    extra = form5_fields(k)
    path = "/f/form5"
  end
  local body = string.format(
    '{"name": "Bench Lead %d", "email": "lead%d@example.com", '
      .. '"phone": "+44 20 7%03d %04d", "ip_address": "10.%d.%d.%d"%s}',
    k, k, math.floor(k / 10000) % 1000, k % 10000,
    math.floor(k / 65536) % 256, math.floor(k / 256) % 256, k % 256, extra
  )
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("statuses")) do
      counts[key] = (counts[key] or 0) + n
    end
  end
  local parts = {}
  for key, n in pairs(counts) do
    table.insert(parts, string.format('"%s": %d', key, n))
  end
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d}, '
      .. '"statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9),
    table.concat(parts, ", ")
  ))
end
