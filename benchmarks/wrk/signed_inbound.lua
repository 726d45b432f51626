-- wrk script for benchmarks/webhook_inbound.py: replays pre-signed inbound webhooks, each once, in order.
local reqs = {}
local idx = 0
init = function(args)
  local f = io.open(args[1], "r")
  for line in f:lines() do
    local sig, body = line:match("^(%S+)\t(.*)$")
    reqs[#reqs + 1] = wrk.format("POST", "/twilio/inbound",
      {["Content-Type"] = "application/x-www-form-urlencoded", ["X-Twilio-Signature"] = sig}, body)
  end
  f:close()
end
request = function()
  idx = idx + 1
  if idx > #reqs then idx = 1 end
  return reqs[idx]
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d non2xx=%d connect=%d read=%d timeout=%d p50=%.2f p99=%.2f\n",
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.timeout, latency:percentile(50)/1000, latency:percentile(99)/1000))
end
