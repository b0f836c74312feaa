#!/usr/bin/env bash
# Overload of sign-ins (issue 10 item 5, docs/reliability.md §5): far more concurrent sign-ins
# than argon2id can serve, while machine clients ask for tokens. For each queue setting, one
# Keycard (release, SQLite) is started and measured twice in the same run:
#   base   client_credentials tokens (wrk -c TOKEN_CONC) alone;
#   flood  the same, while FLOOD_CONC connections send password sign-ins (the legacy password
#          grant: one request per sign-in, the same password_login and hashing queue as the login
#          page) for every one of USERS accounts in turn.
# It prints token p50/p99 and rate for both, the ratio flood/base, sign-ins served and refused
# per second, how fast refusals come, and the server's peak RSS during the flood. Settings:
# "bounded" (the server's defaults), "no-pause" (refusals answered at once:
# login.overload_pause_ms = 0), "nice-0" (hashing threads at the priority of requests:
# login.hash_thread_nice = 0) and "unbounded" (max_queued_hashes = 100000, what an unbounded
# queue would do), each changing one thing. Exit 1 only when something broke.
# Usage: bench/overload.sh [--quick] [--no-build] [--help]
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bench/overload.sh [--quick] [--no-build]

  --quick      DURATION=4 (default 10)
  --no-build   skip `cargo build --release -p keycard`

Environment: DURATION [10] TOKEN_CONC [16] FLOOD_CONC [256] USERS [64]
  HASHES [server default: login.max_concurrent_hashes] SETTINGS ["bounded no-pause nice-0 unbounded"]
  KEYCARD_BIN [target/release/keycard] KEEP [0] keep the work dir
EOF
}

NO_BUILD="${NO_BUILD:-0}"
for arg in "$@"; do
  case "$arg" in
    --quick) DURATION="${DURATION:-4}" ;;
    --no-build) NO_BUILD=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done
DURATION="${DURATION:-10}"
TOKEN_CONC="${TOKEN_CONC:-16}"
FLOOD_CONC="${FLOOD_CONC:-256}"
USERS="${USERS:-64}"
HASHES="${HASHES:-}"
SETTINGS="${SETTINGS:-bounded no-pause nice-0 unbounded}"
KEEP="${KEEP:-0}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
TOOL="$HERE/lib/benchtool.py"
KEYCARD_BIN="${KEYCARD_BIN:-$ROOT/target/release/keycard}"
SECRET="bench-secret-0123456789abcdef0123456789abcdef"
PASSWORD="bench-password-0123456789"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
WORK="$(mktemp -d /tmp/kc-overload.XXXXXX)"
LAUNCHER=""; SRV=""; BG=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${BG[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  if [ -n "$SRV" ]; then kill -TERM "$SRV" 2>/dev/null || true; fi
  if [ -n "$LAUNCHER" ]; then
    for _ in $(seq 1 200); do kill -0 "$LAUNCHER" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$SRV" "$LAUNCHER" 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ] || [ "$rc" != 0 ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
if [ "$NO_BUILD" != 1 ]; then
  log "cargo build --release -p keycard"
  cargo build --release -p keycard --manifest-path "$ROOT/Cargo.toml" >&2
fi
[ -x "$KEYCARD_BIN" ] || { echo "no Keycard binary at $KEYCARD_BIN" >&2; exit 1; }

cat > "$WORK/token.lua" <<EOF
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf 'bench-client:%s' "$SECRET" | base64 -w0)"
EOF
cat > "$WORK/flood.lua" <<EOF
local n = 0
local auth = "Basic $(printf 'flood:%s' "$SECRET" | base64 -w0)"
request = function()
  n = n + 1
  local body = "grant_type=password&scope=openid&password=$PASSWORD&username=bench-user-" .. (n % $USERS)
  return wrk.format("POST", "/token", {["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = auth}, body)
end
EOF

config() { # PORT QUEUE PAUSE NICE
  cat <<EOF
issuer = "http://127.0.0.1:$1"
data_dir = "$WORK/data-$1"
secret = "$SECRET"
[http]
listen = "127.0.0.1:$1"
max_connections = 100000
[log]
level = "warn"
[legacy]
password_grant = true
[login]
max_attempts = 1000000000
ip_max_attempts = 1000000000
EOF
  [ -n "$HASHES" ] && echo "max_concurrent_hashes = $HASHES"
  [ -n "$2" ] && echo "max_queued_hashes = $2"
  [ -n "$3" ] && echo "overload_pause_ms = $3"
  [ -n "$4" ] && echo "hash_thread_nice = $4"
  cat <<EOF
[[provision.clients]]
id = "bench-client"
secret = "$SECRET"
grant_types = ["client_credentials"]
[[provision.clients]]
id = "flood"
secret = "$SECRET"
grant_types = ["password"]
scopes = ["openid"]
EOF
  for ((i = 0; i < USERS; i++)); do
    printf '[[provision.users]]\nusername = "bench-user-%d"\npassword = "%s"\n' "$i" "$PASSWORD"
  done
}

wrk_json() { # FILE -> "rps p50_us p99_us requests non2xx sockerr"
  python3 - "$1" "$HERE/lib" <<'EOF'
import sys
sys.path.insert(0, sys.argv[2])
import benchtool
w = benchtool.parse_wrk(open(sys.argv[1]).read())
print(w["rps"], w["p50_us"], w["p99_us"], w["requests"], w["non2xx"], w["sockerr"])
EOF
}

RESULTS="$WORK/results"
: > "$RESULTS"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; DURATION=$DURATION TOKEN_CONC=$TOKEN_CONC FLOOD_CONC=$FLOOD_CONC USERS=$USERS"
for setting in $SETTINGS; do
  case "$setting" in
    bounded) queue=""; pause=""; nice="" ;;
    no-pause) queue=""; pause=0; nice="" ;;
    nice-0) queue=""; pause=""; nice=0 ;;
    unbounded) queue=100000; pause=""; nice="" ;;
    *) echo "unknown setting $setting" >&2; exit 2 ;;
  esac
  port="$(python3 "$TOOL" freeport)"
  config "$port" "$queue" "$pause" "$nice" > "$WORK/keycard-$setting.toml"
  rm -f "$WORK/pid" "$WORK/ready"
  python3 "$TOOL" launch "$WORK/pid" "$WORK/ready" "http://127.0.0.1:$port/readyz" 120 "$WORK/$setting.log" -- \
    env -u RUST_LOG "$KEYCARD_BIN" --config "$WORK/keycard-$setting.toml" serve &
  LAUNCHER=$!
  for _ in $(seq 1 2400); do [ -s "$WORK/ready" ] && break; sleep 0.05; done
  SRV="$(cat "$WORK/pid")"
  grep -q '^fail' "$WORK/ready" && { cat "$WORK/$setting.log" >&2; echo "Keycard did not start" >&2; exit 1; }
  log "$setting: Keycard pid $SRV on port $port; warm-up"
  wrk -t1 -c"$TOKEN_CONC" -d2s -s "$WORK/token.lua" "http://127.0.0.1:$port/token" > /dev/null
  wrk -t1 -c8 -d2s -s "$WORK/flood.lua" "http://127.0.0.1:$port/token" > /dev/null
  log "$setting: base: tokens alone for ${DURATION}s"
  wrk -t1 -c"$TOKEN_CONC" -d"${DURATION}s" --latency -s "$WORK/token.lua" "http://127.0.0.1:$port/token" > "$WORK/$setting-base.txt"
  echo 5 > "/proc/$SRV/clear_refs" 2>/dev/null || true
  log "$setting: flood: $FLOOD_CONC sign-in connections + tokens for ${DURATION}s"
  wrk -t1 -c"$FLOOD_CONC" -d"$((DURATION + 2))s" --latency --timeout 30s -s "$WORK/flood.lua" \
    "http://127.0.0.1:$port/token" > "$WORK/$setting-flood.txt" &
  BG=($!)
  sleep 1
  wrk -t1 -c"$TOKEN_CONC" -d"${DURATION}s" --latency -s "$WORK/token.lua" "http://127.0.0.1:$port/token" > "$WORK/$setting-tokens.txt"
  wait "${BG[0]}"; BG=()
  peak_kb="$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SRV/status")"
  read -r b_rps b_p50 b_p99 b_n b_bad b_err < <(wrk_json "$WORK/$setting-base.txt")
  read -r t_rps t_p50 t_p99 t_n t_bad t_err < <(wrk_json "$WORK/$setting-tokens.txt")
  read -r f_rps f_p50 f_p99 f_n f_bad f_err < <(wrk_json "$WORK/$setting-flood.txt")
  if [ "$b_bad$b_err$t_bad$t_err" != "0000" ]; then
    echo "token requests failed ($setting): base $b_bad non-2xx $b_err socket errors, flood $t_bad / $t_err" >&2
    exit 1
  fi
  echo "$setting $b_rps $b_p50 $b_p99 $t_rps $t_p50 $t_p99 $f_n $f_bad $f_err $f_p50 $f_p99 $peak_kb" >> "$RESULTS"
  kill -TERM "$SRV"; wait "$LAUNCHER" || true; SRV=""; LAUNCHER=""
done

python3 - "$RESULTS" "$DURATION" "$FLOOD_CONC" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
dur, conc = int(sys.argv[2]) + 2, sys.argv[3]
ms = lambda us: f"{float(us) / 1000:.2f} ms"
print(f"\nOverload of sign-ins ({conc} concurrent sign-in connections; tokens at the same time)\n")
print("| queue | tokens/s alone | p99 alone | tokens/s flooded | p99 flooded | p99 ratio | sign-ins served/s | refused/s (503) | flood p50 | flood p99 | peak RSS |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    name, b_rps, b_p50, b_p99, t_rps, t_p50, t_p99, f_n, f_bad, f_err, f_p50, f_p99, peak = r
    served = (int(f_n) - int(f_bad)) / dur
    refused = int(f_bad) / dur
    ratio = float(t_p99) / float(b_p99)
    print(f"| {name} | {float(b_rps):,.0f} | {ms(b_p99)} | {float(t_rps):,.0f} | {ms(t_p99)} | {ratio:.2f}x | {served:,.0f} | {refused:,.0f} | {ms(f_p50)} | {ms(f_p99)} | {int(peak) / 1024:.0f} MB |")
    if int(f_err):
        print(f"  ({name}: {f_err} sign-in socket errors or timeouts)")
EOF
