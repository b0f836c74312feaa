-- wrk script for bench/run.sh --strong: POST /token client_credentials with a private_key_jwt
-- client assertion (RFC 7523 §2.2) in the body and a DPoP proof (RFC 9449 §4.1) in the header.
-- env: STRONG_FILE   lines "<client_assertion>\t<DPoP proof>" (strong_client_gen lines)
--      STRONG_THREADS the -t given to wrk (default 1); thread k takes the lines k, k+T, k+2T, ...
--      STRONG_PATH    the request path (default /token)
-- Every request uses its own line, never one twice (a second use is a replay the server must
-- refuse). The requests are formatted at init, before the measured time. When a thread runs out
-- of lines it stops: its last request is a GET /healthz whose answer is never read (wrk stops
-- the thread's loop first), so no replay and no error. wrk still divides the completed requests
-- by the whole -d duration, so such a rate is too low: done() prints "ran out: yes" and run.sh
-- then discards the run as failed (it sizes the files so that this does not happen).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local reqs = {}
local n, pos = 0, 0
local idle

function init(args)
  local nthreads = tonumber(os.getenv("STRONG_THREADS") or "1")
  local file = os.getenv("STRONG_FILE") or error("STRONG_FILE is not set")
  local path = os.getenv("STRONG_PATH") or "/token"
  local prefix = "grant_type=client_credentials&scope=api%3Aread"
    .. "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
    .. "&client_assertion="
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == index then
      local tab = line:find("\t", 1, true)
      if tab then
        n = n + 1
        reqs[n] = wrk.format("POST", path, {
          ["Content-Type"] = "application/x-www-form-urlencoded",
          ["DPoP"] = line:sub(tab + 1),
        }, prefix .. line:sub(1, tab - 1))
      end
    end
    i = i + 1
  end
  lines_total = n
  used = 0
  ran_out = 0
  idle = wrk.format("GET", "/healthz", {}, nil)
end

function request()
  pos = pos + 1
  if pos > n then
    if ran_out == 0 then
      ran_out = 1
      wrk.thread:stop()
    end
    return idle
  end
  used = pos
  return reqs[pos]
end

function done(summary, latency, requests)
  local u, t, out = 0, 0, 0
  for _, thread in ipairs(threads) do
    u = u + (thread:get("used") or 0)
    t = t + (thread:get("lines_total") or 0)
    out = out + (thread:get("ran_out") or 0)
  end
  io.write(string.format("strong.lua: %d of %d pre-signed lines sent, ran out: %s\n", u, t,
    out > 0 and "yes" or "no"))
end
