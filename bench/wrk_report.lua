-- wrk script of bench/entities_list.py: counts responses other than 200 and prints one line,
-- "BENCH_JSON {...}", with the totals and latency percentiles (microseconds) the bench parses.
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   non200 = 0
end

function response(status, headers, body)
   if status ~= 200 then
      non200 = non200 + 1
   end
end

function done(summary, latency, requests)
   local non200_total = 0
   for _, thread in ipairs(threads) do
      non200_total = non200_total + thread:get("non200")
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_JSON {"duration_us": %.0f, "requests": %.0f, "bytes": %.0f, "non200": %.0f, '
      .. '"connect_errors": %.0f, "read_errors": %.0f, "write_errors": %.0f, "timeouts": %.0f, '
      .. '"latency_us": {"mean": %.1f, "max": %.0f, "p50": %.0f, "p90": %.0f, "p95": %.0f, "p99": %.0f}}\n',
      summary.duration, summary.requests, summary.bytes, non200_total,
      errors.connect, errors.read, errors.write, errors.timeout,
      latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
      latency:percentile(95), latency:percentile(99)
   ))
end
