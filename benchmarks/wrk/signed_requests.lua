-- wrk script for benchmarks/webhooks.py: replays pre-signed webhooks, each once, in file order,
-- and records which ones were answered 2xx (the server echoes X-Bench-Seq).
-- Request file lines: seq <TAB> path <TAB> X-Twilio-Signature <TAB> form body.
-- Arguments after `--`: the request file, the file to write answered sequence numbers to.
-- Run with one thread (-t1): each thread would replay the file from the start.
local threads = {}

setup = function(thread)
  threads[#threads + 1] = thread
end

init = function(args)
  reqs = {}
  idx = 0
  local f = io.open(args[1], "r")
  for line in f:lines() do
    local seq, path, sig, body = line:match("^(%d+)\t(%S+)\t(%S+)\t(.*)$")
    reqs[#reqs + 1] = wrk.format("POST", path, {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Twilio-Signature"] = sig,
      ["X-Bench-Seq"] = seq,
    }, body)
  end
  f:close()
  answered = io.open(args[2], "w")
  answered:setvbuf("line")
end

request = function()
  idx = idx + 1
  if idx > #reqs then
    idx = 1 -- never reached when the file holds more requests than the run can send
    wrapped = true
  end
  return reqs[idx]
end

response = function(status, headers, body)
  if status >= 200 and status < 300 then
    local seq = headers["x-bench-seq"] or headers["X-Bench-Seq"]
    if seq then
      answered:write(seq, "\n")
    end
  end
end

done = function(summary, latency, requests)
  local sent, wrapped = 0, false
  for _, thread in ipairs(threads) do
    sent = sent + (thread:get("idx") or 0)
    wrapped = wrapped or thread:get("wrapped") == true
  end
  io.write(string.format(
    "RESULT requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p50=%.2f p99=%.2f max=%.2f wrapped=%s\n",
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, tostring(wrapped)))
end
