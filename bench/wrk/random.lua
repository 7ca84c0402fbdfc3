-- wrk script: GET /lines/N with N uniform at random in 1..M.
--
--   LINED_M=10578366 wrk -t1 -c100 -d10s -s bench/wrk/random.lua http://127.0.0.1:8000
--   wrk -t1 -c100 -d10s -s bench/wrk/random.lua http://127.0.0.1:8000 -- 10578366
--
-- M comes from the first script argument or else the LINED_M environment
-- variable; LINED_SEED (default 1) seeds the generator, so runs repeat the
-- same sequence. With LINED_RANGE=W (default 1), each request is a range
-- /lines/N-(N+W-1) of W lines, N uniform in 1..M-W+1. With LINED_WALK=K
-- (default 0: none), lines come in walks of K neighbours, backwards: N,
-- N-1, ..., N-K+1, each walk from a random N, as readers scrolling up a log
-- ask for them. LINED_PREFIX (say /files/NAME) goes before /lines/. The
-- same script drives every server of bench/run.sh, so the client does the
-- same work for each. done() prints one machine-readable
-- line, "WRK_RESULT key=value ...", after wrk's own report.

local M, W, K
local head, tail
local walked, at = 0, 0

function init(args)
   M = tonumber(args[1] or os.getenv("LINED_M") or "")
   if not M or M < 1 or M ~= math.floor(M) then
      error("random.lua: give M (lines in the file) as '-- M' or in LINED_M")
   end
   W = tonumber(os.getenv("LINED_RANGE") or "") or 1
   if W < 1 or W > M or W ~= math.floor(W) then
      error("random.lua: LINED_RANGE must be a whole number from 1 to M")
   end
   K = tonumber(os.getenv("LINED_WALK") or "") or 0
   if K < 0 or K ~= math.floor(K) or (K > 0 and W > 1) then
      error("random.lua: LINED_WALK must be a whole number, and goes with single lines only")
   end
   math.randomseed(tonumber(os.getenv("LINED_SEED") or "") or 1)
   -- wrk.init has set the Host header before calling init.
   head = "GET " .. (os.getenv("LINED_PREFIX") or "") .. "/lines/"
   tail = " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] .. "\r\n\r\n"
end

function request()
   if K > 0 then
      if walked == 0 or at < 1 then
         at, walked = math.random(M), K
      end
      at, walked = at - 1, walked - 1
      return head .. (at + 1) .. tail
   end
   if W == 1 then
      return head .. math.random(M) .. tail
   end
   local n = math.random(M - W + 1)
   return head .. n .. "-" .. (n + W - 1) .. tail
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d max_us=%d " ..
      "connect=%d read=%d write=%d status=%d timeout=%d bytes=%d\n",
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout, summary.bytes))
end
