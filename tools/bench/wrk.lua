-- wrk.lua - the bench's wrk script: optional POST body (WRK_BODY_FILE), Host header
-- (WRK_HOST), and a JSON summary line at the end ("BENCH {...}") that the rows parse.
local body_file = os.getenv("WRK_BODY_FILE")
local host = os.getenv("WRK_HOST")

if body_file and body_file ~= "" then
	local f = assert(io.open(body_file, "rb"))
	wrk.body = f:read("*a")
	f:close()
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "application/json"
end
if host and host ~= "" then
	wrk.headers["Host"] = host
end

function done(summary, latency, requests)
	local secs = summary.duration / 1e6
	local e = summary.errors
	local non2xx = e.status
	io.write(string.format(
		'BENCH {"requests":%d,"duration_s":%.3f,"rps":%.1f,"bytes":%d,' ..
		'"lat_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},' ..
		'"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}}\n',
		summary.requests, secs, (summary.requests - non2xx) / secs, summary.bytes,
		latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
		e.connect, e.read, e.write, e.timeout, non2xx))
end
