#!/usr/bin/env bash
# What token validation costs a resource server: `keycard serve --demo` (release build, fresh
# temporary data dir, free loopback ports), a client-credentials token for demo-service, then wrk
# against GET /api/invoices (JWT validated by keycard-resource on every request: signature, typ,
# iss, aud, exp, scope) and against GET /api/invoices-unprotected, the same handler work with no
# validation at all. Both requests carry the same Authorization header, so both sides pay for
# sending and parsing it and the difference is the validation alone. Prints requests/s, latency and the share of a request
# that validation costs. Usage: bench/demo_api.sh [--pin] [--no-build] [--help]
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bench/demo_api.sh [--pin] [--no-build]

  --pin        server on core 1, wrk on core 0 (PIN=1): per-core figures
  --no-build   skip `cargo build --release -p keycard` (NO_BUILD=1)

Environment (defaults in brackets):
  DURATION [10]  seconds per wrk run      WARMUP [2]  warm-up seconds per endpoint (discarded)
  CONCS ["16 64"]  wrk connections        ROUNDS [3]  on/off pairs per concurrency, interleaved
  ALG [ES256]  access token algorithm (keys.access_token_alg): ES256, RS256 or EdDSA
  WRK_THREADS [1]  KEEP [0] keep the work dir  KEYCARD_BIN [target/release/keycard]
EOF
}

for arg in "$@"; do
  case "$arg" in
    --pin) PIN=1 ;;
    --no-build) NO_BUILD=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONCS="${CONCS:-16 64}"
ROUNDS="${ROUNDS:-3}"
WRK_THREADS="${WRK_THREADS:-1}"
ALG="${ALG:-ES256}"
PIN="${PIN:-0}"
NO_BUILD="${NO_BUILD:-0}"
KEEP="${KEEP:-0}"
KEYCARD_BIN="${KEYCARD_BIN:-$ROOT/target/release/keycard}"
START_TIMEOUT=30
STOP_TIMEOUT=15

case "$DURATION$WARMUP$ROUNDS" in *[!0-9]*) echo "DURATION, WARMUP and ROUNDS must be whole numbers" >&2; exit 2 ;; esac
[ "$DURATION" -ge 1 ] && [ "$ROUNDS" -ge 1 ] || { echo "DURATION and ROUNDS must be >= 1" >&2; exit 2; }

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ------------------------------------------------------------------------------------ clean-up
WORK="$(mktemp -d /tmp/kc-demo-bench.XXXXXX)"
SERVER=""
BG_PID=""
FAILED=0

run_bg() { # a foreground wait that traps can interrupt
  local rc=0
  "$@" &
  BG_PID=$!
  wait "$BG_PID" || rc=$?
  BG_PID=""
  return "$rc"
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  if [ -n "$BG_PID" ]; then
    kill -TERM "$BG_PID" 2>/dev/null || true
    wait "$BG_PID" 2>/dev/null || true
  fi
  if [ -n "$SERVER" ]; then
    kill -TERM "$SERVER" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 20; i++)); do
      kill -0 "$SERVER" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ] || [ "$FAILED" = 1 ] || [ "$rc" != 0 ]; then
    log "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------------------- prerequisites
if ! command -v wrk >/dev/null 2>&1; then
  log "wrk not found: installing it (apt-get install wrk)"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
  else
    sudo apt-get update -qq >&2 && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
  fi
  command -v wrk >/dev/null 2>&1 || { echo "wrk could not be installed" >&2; exit 1; }
fi
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }
if [ "$PIN" = 1 ]; then
  command -v taskset >/dev/null || { echo "--pin needs taskset (util-linux)" >&2; exit 1; }
  [ "$(nproc)" -ge 2 ] || { echo "--pin needs 2 CPUs" >&2; exit 1; }
  SRV_PIN=(taskset -c 1); WRK_PIN=(taskset -c 0); PINNED="server on core 1, wrk on core 0"
else
  SRV_PIN=(); WRK_PIN=(); PINNED="no (server and wrk share $(nproc) cores)"
fi

if [ "$NO_BUILD" != 1 ]; then
  log "cargo build --release -p keycard"
  run_bg cargo build --release -p keycard --manifest-path "$ROOT/Cargo.toml" >&2
fi
[ -x "$KEYCARD_BIN" ] || { echo "no binary at $KEYCARD_BIN" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ------------------------------------------------------------------------------------- start
PORT="$(free_port)"
DEMO_PORT="$(free_port)"
while [ "$DEMO_PORT" = "$PORT" ]; do DEMO_PORT="$(free_port)"; done
ISSUER="http://127.0.0.1:$PORT"
API="http://127.0.0.1:$DEMO_PORT"

log "starting keycard serve --demo: Keycard on $ISSUER, demo API on $API, data in $WORK/data"
# A clean environment: no KEYCARD_* or RUST_LOG from the caller, no keycard.toml (cwd = $WORK).
(
  cd "$WORK"
  bin="$KEYCARD_BIN"
  for v in $(env | sed -n 's/^\(KEYCARD_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
  unset RUST_LOG
  export KEYCARD_ISSUER="$ISSUER" KEYCARD_HTTP__LISTEN="127.0.0.1:$PORT" KEYCARD_DATA_DIR="$WORK/data" \
    KEYCARD_LOG__LEVEL=warn KEYCARD_KEYS__ACCESS_TOKEN_ALG="$ALG"
  exec "${SRV_PIN[@]}" "$bin" serve --demo --demo-port "$DEMO_PORT"
) >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER=$!

deadline=$((SECONDS + START_TIMEOUT))
until curl -fsS -o /dev/null "$API/api/health" 2>/dev/null && curl -fsS -o /dev/null "$ISSUER/healthz" 2>/dev/null; do
  if ! kill -0 "$SERVER" 2>/dev/null; then
    FAILED=1; cat "$WORK/server.err" >&2; echo "keycard serve --demo exited" >&2; exit 1
  fi
  [ "$SECONDS" -lt "$deadline" ] || { FAILED=1; echo "no answer within ${START_TIMEOUT}s" >&2; exit 1; }
  sleep 0.05
done

SECRET="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["service_secret"])' "$WORK/data/demo-credentials.json")"
TOKEN="$(curl -fsS -u "demo-service:$SECRET" -d grant_type=client_credentials -d scope=invoices:read "$ISSUER/token" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"

# Sanity: the protected route accepts the token and refuses no token; both routes answer the same shape.
code_with="$(curl -s -o "$WORK/with.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$API/api/invoices")"
code_without="$(curl -s -o /dev/null -w '%{http_code}' "$API/api/invoices")"
code_off="$(curl -s -o "$WORK/off.json" -w '%{http_code}' "$API/api/invoices-unprotected")"
if [ "$code_with" != 200 ] || [ "$code_without" != 401 ] || [ "$code_off" != 200 ]; then
  FAILED=1
  echo "sanity check failed: with token $code_with (want 200), without $code_without (want 401), unprotected $code_off" >&2
  exit 1
fi
alg="$(printf %s "$TOKEN" | cut -d. -f1 | tr '_-' '/+' | python3 -c 'import base64,json,sys; s=sys.stdin.read().strip(); print(json.loads(base64.b64decode(s+"="*(-len(s)%4)))["alg"])')"
[ "$alg" = "$ALG" ] || { FAILED=1; echo "the token is signed with $alg, not $ALG" >&2; exit 1; }
log "sanity OK: $alg token; $(wc -c <"$WORK/with.json") bytes with validation, $(wc -c <"$WORK/off.json") bytes without"

# ---------------------------------------------------------------------------------------- load
# CPU time (user + system, in clock ticks) the server process has used so far.
server_ticks() {
  awk '{ print $14 + $15 }' "/proc/$SERVER/stat"
}

# wrk_run NAME CONC SECONDS [wrk args...]: prints "rps p50_ms p99_ms cpu_us_per_request"; fails
# on errors or non-2xx. The CPU figure is the server's own CPU time over the run divided by the
# requests wrk completed: unlike requests/s it does not depend on how the cores are shared.
wrk_run() {
  local name="$1" conc="$2" secs="$3"; shift 3
  local out="$WORK/wrk-$name-c$conc-$RANDOM.txt" ticks_before ticks_after
  ticks_before="$(server_ticks)"
  run_bg "${WRK_PIN[@]}" wrk -t"$WRK_THREADS" -c"$conc" -d"${secs}s" --latency "$@" >"$out" 2>&1 || {
    FAILED=1; cat "$out" >&2; echo "wrk failed" >&2; exit 1; }
  ticks_after="$(server_ticks)"
  if grep -qE 'Non-2xx|Socket errors' "$out"; then
    FAILED=1; cat "$out" >&2; echo "errors during the $name run (see above)" >&2; exit 1
  fi
  python3 - "$out" "$((ticks_after - ticks_before))" "$(getconf CLK_TCK)" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
cpu_seconds = int(sys.argv[2]) / int(sys.argv[3])
def ms(label):
    m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)\s*$" % label, t, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
requests = int(re.search(r"(\d+) requests in", t).group(1))
print(f"{rps:.0f} {ms('50'):.3f} {ms('99'):.3f} {cpu_seconds * 1e6 / max(requests, 1):.3f}")
EOF
}

ON=(-H "Authorization: Bearer $TOKEN" "$API/api/invoices")
# The same header on the unprotected route: clients send their token whether or not the API
# checks it, so only the validation differs.
OFF=(-H "Authorization: Bearer $TOKEN" "$API/api/invoices-unprotected")
if [ "$WARMUP" -gt 0 ]; then
  log "warm-up: ${WARMUP}s per endpoint"
  wrk_run warmup-on 16 "$WARMUP" "${ON[@]}" >/dev/null
  wrk_run warmup-off 16 "$WARMUP" "${OFF[@]}" >/dev/null
fi

RESULTS="$WORK/results.txt"
: >"$RESULTS"
for conc in $CONCS; do
  for ((r = 1; r <= ROUNDS; r++)); do
    # Interleaved, so drift on a shared machine hits both sides alike.
    log "c$conc round $r/$ROUNDS: with validation (${DURATION}s)"
    echo "on $conc $(wrk_run on "$conc" "$DURATION" "${ON[@]}")" >>"$RESULTS"
    log "c$conc round $r/$ROUNDS: without validation (${DURATION}s)"
    echo "off $conc $(wrk_run off "$conc" "$DURATION" "${OFF[@]}")" >>"$RESULTS"
  done
done

# --------------------------------------------------------------------------------------- report
echo
echo "Demo API under load: JWT validation on vs. off ($(grep -c ^processor /proc/cpuinfo) CPUs, pinned: $PINNED)"
echo "keycard serve --demo (release), GET /api/invoices vs. GET /api/invoices-unprotected, both with the same $ALG JWT,"
echo "wrk -t$WRK_THREADS, ${DURATION}s per run, $ROUNDS interleaved on/off pair(s) per row, keep-alive HTTP/1.1"
python3 - "$RESULTS" <<'EOF'
import sys
from collections import defaultdict
from statistics import median
runs = defaultdict(lambda: {"on": [], "off": []})
for line in open(sys.argv[1]):
    kind, conc, rps, p50, p99, cpu = line.split()
    runs[int(conc)][kind].append((float(rps), float(p50), float(p99), float(cpu)))
print()
print(f"{'conns':>5}  {'validation':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'server CPU us/req':>18}   (medians)")
all_shares, all_cpu_shares = [], []
for conc in sorted(runs):
    r = runs[conc]
    for kind in ("on", "off"):
        xs = r[kind]
        print(f"{conc:>5}  {kind:<10} {median(x[0] for x in xs):>9.0f} {median(x[1] for x in xs):>8.3f} "
              f"{median(x[2] for x in xs):>8.3f} {median(x[3] for x in xs):>18.2f}")
    # Each "on" run is paired with the "off" run right after it: drift on a shared machine
    # hits both alike, and the median of the pairs ignores the odd disturbed one.
    pairs = list(zip(r["on"], r["off"]))
    shares = [1 - on[0] / off[0] for on, off in pairs]
    cpu_shares = [1 - off[3] / on[3] for on, off in pairs]
    all_shares += shares
    all_cpu_shares += cpu_shares
    def spread(xs):
        return f" (pairs {min(xs) * 100:.1f}% to {max(xs) * 100:.1f}%)" if len(xs) > 1 else ""
    print(f"{'':>5}  validation: {median(cpu_shares) * 100:.1f}% of the server's CPU per request{spread(cpu_shares)}, "
          f"{median(shares) * 100:.1f}% of the requests/s{spread(shares)}")

def verdict(share):
    return "well under the 10% target" if share < 0.05 else "under 10%, not well under" if share < 0.10 \
        else "over the 10% target"
cpu, rps = median(all_cpu_shares), median(all_shares)
print(f"\nAll {len(all_shares)} pairs (medians): validation costs {cpu * 100:.1f}% of the server's CPU per request "
      f"-> {verdict(cpu)};")
print(f"  {rps * 100:.1f}% of the requests/s -> {verdict(rps)} (throughput also moves with how wrk and the server share the cores)")
EOF
