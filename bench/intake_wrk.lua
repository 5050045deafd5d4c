-- wrk script for bench/intake.py: replays pre-signed GitLab deliveries (one per line of
-- args[1]: webhook-id, timestamp, signature, body, tab-separated) and writes the job id of every
-- acknowledged (2xx) delivery to args[2], one per line, so the bench can check each has its row.
-- args[3]: the hook URL's path (the repository's own, or the legacy /hooks/gitlab).
local requests = {}
local next_request = 0
local acked

function init(args)
  for line in io.lines(args[1]) do
    local id, ts, sig, body = line:match("([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)")
    requests[#requests + 1] = wrk.format("POST", args[3] or "/hooks/gitlab", {
      ["Content-Type"] = "application/json",
      ["X-Gitlab-Event"] = "Merge Request Hook",
      ["Idempotency-Key"] = id,
      ["webhook-id"] = id,
      ["webhook-timestamp"] = ts,
      ["webhook-signature"] = sig,
    }, body)
  end
  acked = io.open(args[2], "a")
  acked:setvbuf("line")
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    acked:write((body:match('"job_id":%s*(%d+)') or "none") .. "\n")
  end
end
