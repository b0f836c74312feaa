#!/usr/bin/env bash
# Keycard load benchmark: client_credentials tokens/s, p50/p99 latency and peak RSS with wrk over
# keep-alive HTTP, on SQLite and PostgreSQL, plus idle RSS and start-up time to the first answered
# request; optionally the same load against node-oidc-provider in the same run, with ratios; with
# --flow, also the full authorization code flow (crates/keycard/examples/flow_bench/); with
# --strong, also private_key_jwt + DPoP client_credentials (crates/keycard/examples/
# strong_client_gen.rs pre-signs the requests, lib/strong.lua sends them), as a ratio to the
# shared-secret run. See bench/README.md.
# Usage: bench/run.sh [--peer] [--quick] [--pin] [--opaque] [--strong] [--flow] [--help]
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bench/run.sh [--peer] [--quick] [--pin] [--opaque] [--strong] [--flow | --flow-only] [--no-build]

  --peer       also load node-oidc-provider (same client, same wrk script) and print ratios (PEER=1)
  --quick      smoke test: DURATION=3, concurrency 64 only, ES256 only
  --pin        server on core 1, wrk on core 0 (PIN=1)
  --opaque     also measure opaque access tokens (FORMATS="jwt opaque")
  --strong     also private_key_jwt + DPoP client_credentials (client bench-strong) after the
               shared-secret runs, per backend and (with --peer) on node-oidc-provider; prints
               strong/shared and keycard/peer ratios (STRONG=1)
  --flow       also the full authorization code flow (authorize, login, consent, token, refresh)
               with flow_bench at FLOW_CONC virtual users, and its SQL statements per step (FLOW=1)
  --flow-only  only the authorization code flow benchmark (FLOW=1 FLOW_ONLY=1)
  --no-build   skip `cargo build --release -p keycard` (and of flow_bench, strong_client_gen) (NO_BUILD=1)

Environment (defaults in brackets):
  DURATION [10]  seconds per measured run     WARMUP [1]   warm-up seconds per server+format
  CONCS ["16 64"]  wrk connections            WRK_THREADS [1]  wrk threads
  BACKENDS ["sqlite postgres"]                FORMATS ["jwt"]  jwt and/or opaque
  ALGS ["ES256 EdDSA"]  Keycard JWT algorithms (ES256 is the issue's target)
  STARTS [5]  start-up samples on the initialised database (the median is reported)
  PEER [0]  PIN [0]  NO_BUILD [0]  KEEP [0] keep the work dir (logs, wrk outputs)
  KEYCARD_BIN [target/release/keycard]  PORT / PEER_PORT [a free port]
  PGHOST [127.0.0.1] PGPORT [5432] PGUSER [postgres] PGDATABASE [test]  (trust auth)
  PEERS_DIR  where the peer installs itself (its run.sh default: /tmp/keycard-peers/...)
  FLOW [0]  FLOW_ONLY [0]  FLOW_CONC [32] virtual users  FLOW_DURATION [DURATION]
  FLOW_USERS [FLOW_CONC] accounts  FLOW_COUNT [1] count SQL statements per step
  FLOW_HASHES [8] argon2id hashes timed in-process
  FLOW_BENCH_BIN [target/release/examples/flow_bench]
  STRONG [0]  STRONG_FACTOR [1.5] pre-signed lines = shared-secret rate x seconds x this
  STRONG_MAX_LINES [3000000]  STRONG_GEN_BIN [target/release/examples/strong_client_gen]
EOF
}

for arg in "$@"; do
  case "$arg" in
    --peer) PEER=1 ;;
    --quick) QUICK=1 ;;
    --pin) PIN=1 ;;
    --opaque) FORMATS="jwt opaque" ;;
    --no-build) NO_BUILD=1 ;;
    --flow) FLOW=1 ;;
    --strong) STRONG=1 ;;
    --flow-only) FLOW=1; FLOW_ONLY=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PEER_DIR="$(cd "$(dirname "$0")/../../shared/peers/node-oidc-provider" 2>/dev/null && pwd || true)"
TOOL="$HERE/lib/benchtool.py"

QUICK="${QUICK:-0}"
if [ "$QUICK" = 1 ]; then
  DURATION="${DURATION:-3}"; CONCS="${CONCS:-64}"; ALGS="${ALGS:-ES256}"
fi
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-1}"
CONCS="${CONCS:-16 64}"
WRK_THREADS="${WRK_THREADS:-1}"
BACKENDS="${BACKENDS:-sqlite postgres}"
FORMATS="${FORMATS:-jwt}"
ALGS="${ALGS:-ES256 EdDSA}"
PEER="${PEER:-0}"
PIN="${PIN:-0}"
NO_BUILD="${NO_BUILD:-0}"
KEEP="${KEEP:-0}"
KEYCARD_BIN="${KEYCARD_BIN:-$ROOT/target/release/keycard}"
FLOW="${FLOW:-0}"
FLOW_ONLY="${FLOW_ONLY:-0}"
FLOW_CONC="${FLOW_CONC:-32}"
FLOW_DURATION="${FLOW_DURATION:-$DURATION}"
FLOW_USERS="${FLOW_USERS:-$FLOW_CONC}"
FLOW_COUNT="${FLOW_COUNT:-1}"
FLOW_HASHES="${FLOW_HASHES:-8}"
FLOW_BENCH_BIN="${FLOW_BENCH_BIN:-$ROOT/target/release/examples/flow_bench}"
STRONG="${STRONG:-0}"
STRONG_FACTOR="${STRONG_FACTOR:-1.5}"
STRONG_MAX_LINES="${STRONG_MAX_LINES:-3000000}"
STRONG_GEN_BIN="${STRONG_GEN_BIN:-$ROOT/target/release/examples/strong_client_gen}"
STRONG_LUA="$HERE/lib/strong.lua"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}" \
  PGDATABASE="${PGDATABASE:-test}"
CLIENT_SECRET="bench-secret-0123456789abcdef0123456789abcdef"
BODY="grant_type=client_credentials&scope=api%3Aread"
START_TIMEOUT=30         # seconds for a Keycard start
PEER_START_TIMEOUT=600   # the peer installs itself from npm on first use
STARTS="${STARTS:-5}"     # start-up samples on the initialised database (median reported)
STOP_TIMEOUT=15          # seconds for a server to exit on SIGTERM before SIGKILL

case "$DURATION$WARMUP" in *[!0-9]*) echo "DURATION and WARMUP must be whole seconds" >&2; exit 2 ;; esac
[ "$DURATION" -ge 1 ] || { echo "DURATION must be >= 1" >&2; exit 2; }
case "$FLOW_CONC$FLOW_DURATION$FLOW_USERS$FLOW_HASHES" in
  *[!0-9]*) echo "FLOW_CONC, FLOW_DURATION, FLOW_USERS and FLOW_HASHES must be whole numbers" >&2; exit 2 ;;
esac
[ "$FLOW_CONC" -ge 1 ] && [ "$FLOW_DURATION" -ge 1 ] && [ "$FLOW_USERS" -ge 1 ] \
  || { echo "FLOW_CONC, FLOW_DURATION and FLOW_USERS must be >= 1" >&2; exit 2; }
if [ "$FLOW_ONLY" = 1 ] && [ "$STRONG" = 1 ]; then
  echo "--flow-only and --strong do not go together (--strong extends the client_credentials runs)" >&2; exit 2
fi
if [ "$FLOW_ONLY" = 1 ] && [ "$PEER" = 1 ]; then
  echo "--flow-only and --peer do not go together (the peer has no flow benchmark here)" >&2; exit 2
fi

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
FAILURES=""
fail() { log "FAIL: $*"; FAILURES="${FAILURES:+$FAILURES; }$*"; }

# ------------------------------------------------------------------------------------ clean-up
WORK="$(mktemp -d /tmp/kc-bench.XXXXXX)"
LAUNCHERS=()   # launcher pids (parents of the servers)
SERVERS=()     # server pids
PG_SCHEMA=""
BG_PID=""      # the wrk or cargo job being waited for

# Runs a command in the background and waits for it, so that a signal to this script is handled
# at once (bash defers traps while a foreground command runs) and the cleanup can stop it.
run_bg() {
  local rc=0
  "$@" &
  BG_PID=$!
  wait "$BG_PID" || rc=$?
  BG_PID=""
  return "$rc"
}

stop_server() { # SERVER_PID LAUNCHER_PID: SIGTERM, bounded wait, then SIGKILL
  local spid="$1" lpid="$2" i
  kill -TERM "$spid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 20; i++)); do
    kill -0 "$lpid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$lpid" 2>/dev/null; then
    log "server $spid did not stop in ${STOP_TIMEOUT}s; SIGKILL"
    kill -KILL "$spid" 2>/dev/null || true
    sleep 0.2
    kill -KILL "$lpid" 2>/dev/null || true
  fi
  wait "$lpid" 2>/dev/null || true
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  if [ -n "$BG_PID" ]; then
    kill -TERM "$BG_PID" 2>/dev/null || true
    wait "$BG_PID" 2>/dev/null || true
  fi
  for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do
    [ -n "${SERVERS[$i]}" ] && stop_server "${SERVERS[$i]}" "${LAUNCHERS[$i]}"
  done
  if [ -n "$PG_SCHEMA" ]; then
    psql -q -X -v ON_ERROR_STOP=1 -c "DROP SCHEMA IF EXISTS $PG_SCHEMA CASCADE" >/dev/null 2>&1 \
      || log "could not drop schema $PG_SCHEMA"
  fi
  if [ "$KEEP" = 1 ] || [ -n "$FAILURES" ]; then
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

if [ -n "$PEER_DIR" ] && [ -f "$PEER_DIR/post-form.lua" ]; then
  LUA="$PEER_DIR/post-form.lua"
else
  # The peer folder is absent: an equivalent wrk script, written outside the repository.
  LUA="$WORK/post-form.lua"
  cat > "$LUA" <<'EOF'
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY") or "grant_type=client_credentials&scope=api%3Aread"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. (os.getenv("WRK_BASIC") or "")
EOF
  if [ "$PEER" = 1 ]; then
    echo "--peer: node-oidc-provider not found at $(dirname "$0")/../../shared/peers/node-oidc-provider" >&2
    exit 1
  fi
fi

if [ "$PIN" = 1 ]; then
  command -v taskset >/dev/null || { echo "PIN=1 needs taskset (util-linux)" >&2; exit 1; }
  [ "$(nproc)" -ge 2 ] || { echo "PIN=1 needs 2 CPUs" >&2; exit 1; }
  SRV_PIN=(taskset -c 1); WRK_PIN=(taskset -c 0)
  PINNED="yes (servers on core 1, wrk on core 0)"
else
  SRV_PIN=(); WRK_PIN=()
  PINNED="no (servers and wrk share all $(nproc) cores)"
fi

if [ "$NO_BUILD" != 1 ]; then
  log "cargo build --release -p keycard"
  run_bg cargo build --release -p keycard --manifest-path "$ROOT/Cargo.toml" >&2 \
    || { echo "release build failed" >&2; exit 1; }
fi
[ -x "$KEYCARD_BIN" ] || { echo "no Keycard binary at $KEYCARD_BIN (build it or set KEYCARD_BIN)" >&2; exit 1; }
if [ "$FLOW" = 1 ]; then
  if [ "$NO_BUILD" != 1 ]; then
    log "cargo build --release -p keycard --example flow_bench"
    run_bg cargo build --release -p keycard --example flow_bench --manifest-path "$ROOT/Cargo.toml" >&2 \
      || { echo "flow_bench build failed" >&2; exit 1; }
  fi
  [ -x "$FLOW_BENCH_BIN" ] \
    || { echo "no flow_bench at $FLOW_BENCH_BIN (build it or set FLOW_BENCH_BIN)" >&2; exit 1; }
fi

if [ "$STRONG" = 1 ]; then
  if [ "$NO_BUILD" != 1 ]; then
    log "cargo build --release -p keycard --example strong_client_gen"
    run_bg cargo build --release -p keycard --example strong_client_gen --manifest-path "$ROOT/Cargo.toml" >&2 \
      || { echo "strong_client_gen build failed" >&2; exit 1; }
  fi
  [ -x "$STRONG_GEN_BIN" ] \
    || { echo "no strong_client_gen at $STRONG_GEN_BIN (build it or set STRONG_GEN_BIN)" >&2; exit 1; }
  if [ "$PEER" = 1 ] && [ ! -x "$HERE/peer-strong/run.sh" ]; then
    echo "--strong --peer: no $HERE/peer-strong/run.sh" >&2; exit 1
  fi
fi

META="$WORK/meta"
RESULTS="$WORK/results.tsv"
meta() { printf '%s=%s\n' "$1" "$2" >> "$META"; }
meta date "$(date '+%Y-%m-%d %H:%M')"
meta git "$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && [ -n "$(git status --porcelain 2>/dev/null | head -1)" ] && echo '+dirty')"
meta cpus "$(nproc)"
meta cpu_model "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
meta wrk_threads "$WRK_THREADS"
meta duration "$DURATION"
meta warmup "$WARMUP"
meta pinned "$PINNED"
meta load_before "$(cut -d' ' -f1-3 /proc/loadavg)"
meta strong "$STRONG"
meta formats "$FORMATS"
meta keep "$KEEP"
meta logs "$WORK"
meta command "$(printf '%s ' "bench/run.sh" "$@")"
meta settings "DURATION=$DURATION WARMUP=$WARMUP CONCS=\"$CONCS\" BACKENDS=\"$BACKENDS\" FORMATS=\"$FORMATS\" ALGS=\"$ALGS\" PEER=$PEER PIN=$PIN WRK_THREADS=$WRK_THREADS STARTS=$STARTS STRONG=$STRONG"
meta flow "$FLOW"
meta flow_only "$FLOW_ONLY"
meta backends "$BACKENDS"
[ "$FLOW" = 1 ] && meta flow_settings "FLOW_CONC=$FLOW_CONC FLOW_DURATION=$FLOW_DURATION FLOW_USERS=$FLOW_USERS FLOW_COUNT=$FLOW_COUNT FLOW_HASHES=$FLOW_HASHES"
log "pinned: $PINNED; load average: $(cut -d' ' -f1-3 /proc/loadavg); work dir: $WORK"

# ----------------------------------------------------------------------------- server control
SRV_PID=""; SRV_LAUNCHER=""; SRV_MS=""
start_server() { # NAME TIMEOUT URL CMD...: sets SRV_PID, SRV_LAUNCHER, SRV_MS (returns 1 on failure)
  local name="$1" timeout="$2" url="$3" i ready
  shift 3
  rm -f "$WORK/$name.pid" "$WORK/$name.ready"
  python3 "$TOOL" launch "$WORK/$name.pid" "$WORK/$name.ready" "$url" "$timeout" "$WORK/$name.log" -- "$@" &
  SRV_LAUNCHER=$!
  for ((i = 0; i < 1000; i++)); do [ -s "$WORK/$name.pid" ] && break; sleep 0.01; done
  SRV_PID="$(cat "$WORK/$name.pid" 2>/dev/null || true)"
  LAUNCHERS+=("$SRV_LAUNCHER"); SERVERS+=("${SRV_PID:-0}")
  for ((i = 0; i < (timeout + 5) * 20; i++)); do [ -s "$WORK/$name.ready" ] && break; sleep 0.05; done
  ready="$(cat "$WORK/$name.ready" 2>/dev/null || echo "fail no answer")"
  if [ -z "$SRV_PID" ] || [ "${ready%% *}" = fail ]; then
    fail "$name did not start: ${ready#fail }"
    tail -n 20 "$WORK/$name.log" >&2 || true
    stop_current
    return 1
  fi
  SRV_MS="$ready"
}
stop_current() {
  [ -n "$SRV_LAUNCHER" ] || return 0
  stop_server "${SRV_PID:-0}" "$SRV_LAUNCHER"
  local i
  for i in "${!LAUNCHERS[@]}"; do
    [ "${LAUNCHERS[$i]}" = "$SRV_LAUNCHER" ] && { LAUNCHERS[$i]=""; SERVERS[$i]=""; }
  done
  SRV_PID=""; SRV_LAUNCHER=""
}
rss_kb() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status" 2>/dev/null || echo 0; }

# sanity_check NAME PORT CLIENT FORMAT ALG: one token request, checks 200 and the token's shape
sanity_check() {
  local name="$1" port="$2" client="$3" fmt="$4" alg="$5" code
  code="$(curl -s -o "$WORK/$name.token.json" -w '%{http_code}' --max-time 5 \
    -u "$client:$CLIENT_SECRET" -d "$BODY" "http://127.0.0.1:$port/token" || echo 000)"
  if [ "$code" != 200 ]; then
    fail "$name: POST /token answered $code: $(head -c 300 "$WORK/$name.token.json" 2>/dev/null)"
    return 1
  fi
  local msg
  if ! msg="$(python3 "$TOOL" token-check "$fmt" "$alg" "$WORK/$name.token.json")"; then
    fail "$name: $msg"
    return 1
  fi
  log "  $name: /token 200, $msg"
}

# load SERVER BACKEND FORMAT ALG PORT CLIENT: warm-up, then one wrk run per concurrency
load() {
  local server="$1" backend="$2" fmt="$3" alg="$4" port="$5" client="$6" conc tag peak rc
  local basic
  basic="$(printf '%s:%s' "$client" "$CLIENT_SECRET" | base64 -w0)"
  local url="http://127.0.0.1:$port/token"
  local max_conc
  max_conc="$(tr ' ' '\n' <<<"$CONCS" | sort -n | tail -1)"
  if [ "$WARMUP" -gt 0 ]; then
    WRK_BASIC="$basic" WRK_BODY="$BODY" run_bg timeout $((WARMUP + 30)) "${WRK_PIN[@]}" \
      wrk -t"$WRK_THREADS" -c"$max_conc" -d"${WARMUP}s" -s "$LUA" "$url" > "$WORK/warmup.out" 2>&1 || true
  fi
  for conc in $CONCS; do
    tag="$server-$backend-$fmt-$alg-c$conc"
    log "  wrk -t$WRK_THREADS -c$conc -d${DURATION}s --latency -> $server $backend $fmt${alg:+/$alg}"
    echo 5 > "/proc/$SRV_PID/clear_refs" 2>/dev/null || true   # reset VmHWM to the current RSS
    python3 "$TOOL" snap "$SRV_PID" > "$WORK/$tag.before"
    rc=0
    WRK_BASIC="$basic" WRK_BODY="$BODY" run_bg timeout $((DURATION + 30)) "${WRK_PIN[@]}" \
      wrk -t"$WRK_THREADS" -c"$conc" -d"${DURATION}s" --latency -s "$LUA" "$url" > "$WORK/$tag.wrk" 2>&1 || rc=$?
    python3 "$TOOL" snap "$SRV_PID" > "$WORK/$tag.after"
    peak="$(rss_kb "$SRV_PID" VmHWM)"
    if [ "$rc" != 0 ]; then
      fail "$tag: wrk exited with status $rc: $(tail -n 3 "$WORK/$tag.wrk" | tr '\n' ' ')"
      continue
    fi
    python3 "$TOOL" record "$RESULTS" "$WORK/$tag.wrk" "$WORK/$tag.before" "$WORK/$tag.after" "${peak:-0}" \
      "$server" "$backend" "$fmt" "${alg:--}" "$conc" "$DURATION" >&2 \
      || fail "$tag: non-2xx responses or socket errors (see $WORK/$tag.wrk)"
  done
}

# ------------------------------------------------------------------ strong clients (--strong)
# private_key_jwt (RFC 7523 §2.2) + DPoP (RFC 9449) client_credentials: wrk cannot sign, so
# strong_client_gen pre-signs one "<client_assertion>\t<DPoP proof>" line per request right
# before each wrk run (fresh iat; Keycard refuses proofs older than its DPoP iat window) and
# lib/strong.lua sends each line once. One client key (kid bench-1) and one DPoP key per run.
STRONG_DIR="$WORK/strong"
STRONG_JWKS_TOML=""
strong_keys() { # generates the run's client key and DPoP key (sets STRONG_JWKS_TOML)
  mkdir -p "$STRONG_DIR"
  "$STRONG_GEN_BIN" keygen --out "$STRONG_DIR/client.pk8" --kid bench-1 > "$STRONG_DIR/client.jwk.json" \
    && "$STRONG_GEN_BIN" keygen --out "$STRONG_DIR/dpop.pk8" > "$STRONG_DIR/dpop.jwk.json" \
    && python3 "$TOOL" strong-jwks "$STRONG_DIR/client.jwk.json" "$STRONG_DIR/client-jwks.json" \
      > "$STRONG_DIR/client-jwks.toml" \
    || { fail "strong: key generation failed"; return 1; }
  STRONG_JWKS_TOML="$(cat "$STRONG_DIR/client-jwks.toml")"
  log "strong: client key bench-1 and DPoP key generated ($STRONG_DIR)"
}

strong_config() { # FILE: appends the client bench-strong with the run's public key
  sed -e "s|@STRONG_JWKS@|$STRONG_JWKS_TOML|g" "$HERE/strong-client.toml.tmpl" >> "$1"
}

# strong_gen OUT PORT COUNT: COUNT fresh lines for http://127.0.0.1:PORT/token
strong_gen() {
  local rc=0
  run_bg "$STRONG_GEN_BIN" lines --client-id bench-strong --token-url "http://127.0.0.1:$2/token" \
    --client-key "$STRONG_DIR/client.pk8" --kid bench-1 --dpop-key "$STRONG_DIR/dpop.pk8" \
    --count "$3" --out "$1" 2> "$1.log" || rc=$?
  if [ "$rc" != 0 ]; then
    fail "strong_client_gen exited with status $rc: $(tail -n 2 "$1.log" | tr '\n' ' ')"
    return 1
  fi
  log "  $(cat "$1.log")"
}

# strong_count SERVER BACKEND ALG CONC SECONDS [WARMUP_WRK]: lines for a run (from the shared-secret
# rate, and from the strong warm-up's rate when there is one)
strong_count() {
  python3 "$TOOL" strong-lines "$RESULTS" "$1" "$2" "$3" "$4" "$5" "$STRONG_FACTOR" "$STRONG_MAX_LINES" ${6:+"$6"}
}

# strong_sanity NAME PORT ALG: one strong token request: 200, token_type DPoP, cnf.jkt of the DPoP key
strong_sanity() {
  local name="$1" port="$2" alg="$3" code line
  strong_gen "$STRONG_DIR/$name-sanity.tsv" "$port" 1 || return 1
  line="$(head -n 1 "$STRONG_DIR/$name-sanity.tsv")"
  code="$(curl -s -o "$WORK/$name.token.json" -w '%{http_code}' --max-time 5 \
    -H "DPoP: ${line#*$'\t'}" \
    --data-raw "grant_type=client_credentials&scope=api%3Aread&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=${line%%$'\t'*}" \
    "http://127.0.0.1:$port/token" || echo 000)"
  if [ "$code" != 200 ]; then
    fail "$name: strong POST /token answered $code: $(head -c 300 "$WORK/$name.token.json" 2>/dev/null)"
    return 1
  fi
  local msg
  if ! msg="$(python3 "$TOOL" strong-check "$alg" "$STRONG_DIR/dpop.jwk.json" "$WORK/$name.token.json")"; then
    fail "$name: $msg"
    return 1
  fi
  log "  $name: strong /token 200, $msg"
}

# load_strong SERVER BACKEND ALG PORT: warm-up, then one wrk run per concurrency, each with
# its own freshly signed lines (sized from the shared-secret rate of the same server kind)
load_strong() {
  local server="$1" backend="$2" alg="$3" port="$4" conc tag peak rc n
  local url="http://127.0.0.1:$port/token" max_conc warm="$WORK/warmup-strong-$server-$backend.out"
  max_conc="$(tr ' ' '\n' <<<"$CONCS" | sort -n | tail -1)"
  rm -f "$warm"
  if [ "$WARMUP" -gt 0 ]; then
    n="$(strong_count "$server" "$backend" "$alg" "$max_conc" "$WARMUP")"
    if strong_gen "$STRONG_DIR/warmup.tsv" "$port" "$n"; then
      STRONG_FILE="$STRONG_DIR/warmup.tsv" STRONG_THREADS="$WRK_THREADS" run_bg timeout $((WARMUP + 60)) \
        "${WRK_PIN[@]}" wrk -t"$WRK_THREADS" -c"$max_conc" -d"${WARMUP}s" -s "$STRONG_LUA" "$url" \
        > "$warm" 2>&1 || rm -f "$warm"
      rm -f "$STRONG_DIR/warmup.tsv"
    fi
  fi
  for conc in $CONCS; do
    tag="$server-$backend-strong-$alg-c$conc"
    n="$(strong_count "$server" "$backend" "$alg" "$conc" "$DURATION" "$warm")"
    strong_gen "$STRONG_DIR/$tag.tsv" "$port" "$n" || continue
    log "  wrk -t$WRK_THREADS -c$conc -d${DURATION}s --latency -> $server $backend strong/$alg ($n pre-signed requests)"
    echo 5 > "/proc/$SRV_PID/clear_refs" 2>/dev/null || true   # reset VmHWM to the current RSS
    python3 "$TOOL" snap "$SRV_PID" > "$WORK/$tag.before"
    rc=0
    STRONG_FILE="$STRONG_DIR/$tag.tsv" STRONG_THREADS="$WRK_THREADS" run_bg timeout $((DURATION + 60)) \
      "${WRK_PIN[@]}" wrk -t"$WRK_THREADS" -c"$conc" -d"${DURATION}s" --latency -s "$STRONG_LUA" "$url" \
      > "$WORK/$tag.wrk" 2>&1 || rc=$?
    python3 "$TOOL" snap "$SRV_PID" > "$WORK/$tag.after"
    peak="$(rss_kb "$SRV_PID" VmHWM)"
    [ "$KEEP" = 1 ] || rm -f "$STRONG_DIR/$tag.tsv"
    if [ "$rc" != 0 ]; then
      fail "$tag: wrk exited with status $rc: $(tail -n 3 "$WORK/$tag.wrk" | tr '\n' ' ')"
      continue
    fi
    if grep -q 'ran out: yes' "$WORK/$tag.wrk"; then
      # wrk divides by the whole duration: the rate would be too low, so the run is not recorded
      fail "$tag: the $n pre-signed lines ran out before ${DURATION}s (raise STRONG_FACTOR; $(grep 'strong.lua:' "$WORK/$tag.wrk"))"
      continue
    fi
    if ! grep -q 'strong.lua:' "$WORK/$tag.wrk"; then
      fail "$tag: no report from strong.lua (see $WORK/$tag.wrk)"
      continue
    fi
    python3 "$TOOL" record "$RESULTS" "$WORK/$tag.wrk" "$WORK/$tag.before" "$WORK/$tag.after" "${peak:-0}" \
      "$server" "$backend" strong "$alg" "$conc" "$DURATION" >&2 \
      || fail "$tag: non-2xx responses or socket errors (see $WORK/$tag.wrk)"
  done
}

# Keycard with the client bench-strong: its own server (first algorithm of ALGS) after the
# shared-secret runs of the backend, on the same database.
run_keycard_strong() { # BACKEND PORT DATA_DIR DB_URL
  local backend="$1" port="$2" data="$3" db_url="$4" alg="${ALGS%% *}"
  local cfg="$WORK/$backend-strong.toml" name="keycard-$backend-strong"
  [ -n "$STRONG_JWKS_TOML" ] || return 0
  keycard_config "$cfg" "$port" "$data" "$db_url" "$alg"
  strong_config "$cfg"
  log "keycard $backend (strong: private_key_jwt + DPoP, $alg access tokens) on 127.0.0.1:$port"
  start_server "$name" "$START_TIMEOUT" "http://127.0.0.1:$port/healthz" \
    "${SRV_PIN[@]}" "${KC_ENV[@]}" "$KEYCARD_BIN" --config "$cfg" serve || return 0
  if strong_sanity "$name" "$port" "$alg"; then
    load_strong keycard "$backend" "$alg" "$port"
  fi
  stop_current
}

keycard_config() { # FILE PORT DATA_DIR DB_URL ALG
  sed -e "s|@PORT@|$2|g" -e "s|@DATA_DIR@|$3|g" -e "s|@DB_URL@|$4|g" -e "s|@ALG@|$5|g" \
    "$HERE/keycard.toml.tmpl" > "$1"
}

# The server must not pick up the caller's KEYCARD_* variables, RUST_LOG or ./keycard.toml.
KC_ENV=(env)
for v in $(compgen -e | grep -E '^(KEYCARD_|RUST_LOG$)' || true); do KC_ENV+=(-u "$v"); done

run_keycard() { # BACKEND
  local backend="$1" port data db_url
  port="${PORT:-$(python3 "$TOOL" freeport)}"
  data="$WORK/$backend-data"
  mkdir -p "$data"
  if [ "$backend" = sqlite ]; then
    db_url="sqlite://$data/keycard.db"
  else
    if ! pg_isready -q -t 5 2>/dev/null && ! psql -q -X -c 'select 1' >/dev/null 2>&1; then
      fail "postgres: no server at $PGHOST:$PGPORT (set PGHOST/PGPORT/PGUSER/PGDATABASE or BACKENDS=sqlite)"
      return 0
    fi
    PG_SCHEMA="kc_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
    if ! psql -q -X -v ON_ERROR_STOP=1 -c "CREATE SCHEMA $PG_SCHEMA" >/dev/null; then
      fail "postgres: cannot create schema $PG_SCHEMA"; PG_SCHEMA=""; return 0
    fi
    db_url="postgres://$PGUSER@$PGHOST:$PGPORT/$PGDATABASE?options=-c%20search_path%3D$PG_SCHEMA"
  fi
  [ "$FLOW_ONLY" = 1 ] || run_keycard_tokens "$backend" "$port" "$data" "$db_url"
  [ "$FLOW" = 1 ] && run_flow "$backend" "$port" "$data" "$db_url"
  if [ "$backend" = postgres ] && [ -n "$PG_SCHEMA" ]; then
    psql -q -X -c "DROP SCHEMA IF EXISTS $PG_SCHEMA CASCADE" >/dev/null 2>&1 || log "could not drop $PG_SCHEMA"
    PG_SCHEMA=""
  fi
}

# The client_credentials part: first start, start-up samples, idle RSS, wrk loads.
run_keycard_tokens() { # BACKEND PORT DATA_DIR DB_URL
  local backend="$1" port="$2" data="$3" db_url="$4" name alg cfg fmt client
  local health="http://127.0.0.1:$port/healthz"
  local first_alg="${ALGS%% *}"

  # 1. First start on an empty database: migrations and key generation.
  cfg="$WORK/$backend-$first_alg.toml"
  keycard_config "$cfg" "$port" "$data" "$db_url" "$first_alg"
  log "keycard $backend: first start (empty database, generates keys) on 127.0.0.1:$port"
  start_server "keycard-$backend-first" "$START_TIMEOUT" "$health" \
    "${SRV_PIN[@]}" "${KC_ENV[@]}" "$KEYCARD_BIN" --config "$cfg" serve || return 0
  meta "${backend}_first_start_ms" "$SRV_MS"
  log "  first start to first 200 on /healthz: $SRV_MS ms"
  stop_current

  # 2. One server per algorithm on the initialised database; the first one gives start-up and idle RSS.
  for alg in $ALGS; do
    cfg="$WORK/$backend-$alg.toml"
    keycard_config "$cfg" "$port" "$data" "$db_url" "$alg"
    name="keycard-$backend-$alg"
    log "keycard $backend ($alg access tokens): start on the initialised database"
    start_server "$name" "$START_TIMEOUT" "$health" \
      "${SRV_PIN[@]}" "${KC_ENV[@]}" "$KEYCARD_BIN" --config "$cfg" serve || return 0
    log "  start-up to first 200 on /healthz: $SRV_MS ms"
    if [ "$alg" = "$first_alg" ]; then
      # More start-up samples on the initialised database (the machine is noisy): median of STARTS.
      local samples="$SRV_MS" k
      for ((k = 1; k < STARTS; k++)); do
        stop_current
        start_server "$name-$k" "$START_TIMEOUT" "$health" \
          "${SRV_PIN[@]}" "${KC_ENV[@]}" "$KEYCARD_BIN" --config "$cfg" serve || return 0
        samples="$samples $SRV_MS"
      done
      local median
      median="$(python3 -c 'import statistics,sys; print(f"{statistics.median(map(float, sys.argv[1:])):.1f}")' $samples)"
      meta "${backend}_start_ms" "$median"
      meta "${backend}_start_samples" "$samples"
      log "  start-up samples (ms): $samples -> median $median"
      sleep 1
      local idle
      idle="$(rss_kb "$SRV_PID" VmRSS)"
      meta "${backend}_idle_kb" "$idle"
      log "  idle RSS: $idle kB"
    fi
    for fmt in $FORMATS; do
      # opaque tokens do not depend on the signing algorithm: measured once, with the first server
      if [ "$fmt" = opaque ] && [ "$alg" != "$first_alg" ]; then continue; fi
      if [ "$fmt" = jwt ]; then client=bench-client; else client=bench-opaque; fi
      local talg="$alg"; [ "$fmt" = opaque ] && talg="-"
      sanity_check "$name-$fmt" "$port" "$client" "$fmt" "$talg" || continue
      load keycard "$backend" "$fmt" "$talg" "$port" "$client"
    done
    if [ "$alg" = "$first_alg" ]; then
      meta "${backend}_after_kb" "$(rss_kb "$SRV_PID" VmRSS)"
      if [ "$backend" = sqlite ]; then   # the WAL grows with opaque tokens (a row each)
        meta sqlite_files "$(cd "$data" && ls -l keycard.db* 2>/dev/null | awk '{printf "%s %.1f MB; ", $9, $5/1048576}')"
      fi
    fi
    stop_current
  done
  [ "$STRONG" = 1 ] && run_keycard_strong "$backend" "$port" "$data" "$db_url"
  return 0
}

# The authorization code flow (flow_bench): the SQL statements per step on a server logging
# them (FLOW_COUNT=1), then the load on a server with the usual log level. Both provision the
# confidential client bench-web, the accounts and the raised login throttling
# (benchtool.py flow-config).
run_flow() { # BACKEND PORT DATA_DIR DB_URL
  local backend="$1" port="$2" data="$3" db_url="$4" cfg name rc peak
  local base="http://127.0.0.1:$port" alg="${ALGS%% *}"
  if [ "$FLOW_COUNT" = 1 ]; then
    cfg="$WORK/$backend-flow-count.toml"
    keycard_config "$cfg" "$port" "$data" "$db_url" "$alg"
    python3 "$TOOL" flow-config "$cfg" "$FLOW_USERS" count
    name="keycard-$backend-flow-count"
    log "keycard $backend (flow, statement count: log sqlx::query=debug as JSON) on 127.0.0.1:$port"
    if start_server "$name" "$START_TIMEOUT" "$base/healthz" "${SRV_PIN[@]}" "${KC_ENV[@]}" \
        RUST_LOG='warn,sqlx::query=debug' "$KEYCARD_BIN" --log-format json --config "$cfg" serve; then
      log "  flow_bench --count-statements (two flows of bench-count, step by step)"
      rc=0
      run_bg timeout 120 "$FLOW_BENCH_BIN" --base "$base" --count-statements --server-log "$WORK/$name.log" \
        --label "$backend" > "$WORK/flow-count-$backend.out" 2>&1 || rc=$?
      sed 's/^/    /' "$WORK/flow-count-$backend.out" >&2
      [ "$rc" = 0 ] || fail "$backend flow statement count: flow_bench exited with status $rc"
      stop_current
    fi
  fi

  cfg="$WORK/$backend-flow.toml"
  keycard_config "$cfg" "$port" "$data" "$db_url" "$alg"
  python3 "$TOOL" flow-config "$cfg" "$FLOW_USERS"
  name="keycard-$backend-flow"
  log "keycard $backend (flow) on 127.0.0.1:$port ($((FLOW_USERS + 1)) accounts hashed at start-up)"
  start_server "$name" "$START_TIMEOUT" "$base/healthz" "${SRV_PIN[@]}" "${KC_ENV[@]}" \
    "$KEYCARD_BIN" --config "$cfg" serve || return 0
  log "  flow_bench --concurrency $FLOW_CONC --duration $FLOW_DURATION --users $FLOW_USERS"
  echo 5 > "/proc/$SRV_PID/clear_refs" 2>/dev/null || true   # reset VmHWM to the current RSS
  rc=0
  run_bg timeout $((FLOW_DURATION + 180)) "${WRK_PIN[@]}" "$FLOW_BENCH_BIN" --base "$base" \
    --concurrency "$FLOW_CONC" --duration "$FLOW_DURATION" --users "$FLOW_USERS" --hash-samples "$FLOW_HASHES" \
    --server-pid "$SRV_PID" --label "$backend" --summary-json "$WORK/flow-$backend.json" \
    > "$WORK/flow-$backend.out" 2>&1 || rc=$?
  peak="$(rss_kb "$SRV_PID" VmHWM)"
  echo "server peak RSS during the flow run: $(awk -v k="${peak:-0}" 'BEGIN { printf "%.1f MB", k / 1024 }')" \
    >> "$WORK/flow-$backend.out"
  sed 's/^/    /' "$WORK/flow-$backend.out" >&2
  [ "$rc" = 0 ] || fail "$backend flow load: flow_bench exited with status $rc (errors or no completed flow)"
  stop_current
}

run_peer() {
  local fmt port name
  for fmt in $FORMATS; do
    port="${PEER_PORT:-$(python3 "$TOOL" freeport)}"
    name="peer-$fmt"
    log "node-oidc-provider ($fmt) on 127.0.0.1:$port (installs itself under /tmp on first use)"
    local installed=1
    [ -d "${PEERS_DIR:-/tmp/keycard-peers/node-oidc-provider}/node_modules/oidc-provider" ] || installed=0
    start_server "$name" "$PEER_START_TIMEOUT" "http://127.0.0.1:$port/.well-known/openid-configuration" \
      "${SRV_PIN[@]}" "$PEER_DIR/run.sh" "$port" "$fmt" || continue
    log "  start-up to first 200: $SRV_MS ms"
    sleep 1
    if [ "$installed" = 1 ]; then meta "peer_${fmt}_start_ms" "$SRV_MS"
    else meta "peer_${fmt}_start_ms" "$SRV_MS (first use: includes npm install)"; fi
    meta "peer_${fmt}_idle_kb" "$(rss_kb "$SRV_PID" VmRSS)"
    local talg=EdDSA; [ "$fmt" = opaque ] && talg="-"
    if sanity_check "$name" "$port" bench-client "$fmt" "$talg"; then
      load peer node "$fmt" "$talg" "$port" bench-client
    fi
    stop_current
  done
  [ "$STRONG" = 1 ] && run_peer_strong
  return 0
}

# node-oidc-provider with the same strong client (bench/peer-strong/), after its shared-secret runs.
run_peer_strong() {
  local port name=peer-strong
  [ -n "$STRONG_JWKS_TOML" ] || return 0
  port="${PEER_PORT:-$(python3 "$TOOL" freeport)}"
  log "node-oidc-provider (strong: private_key_jwt + DPoP, jwt) on 127.0.0.1:$port"
  start_server "$name" "$PEER_START_TIMEOUT" "http://127.0.0.1:$port/.well-known/openid-configuration" \
    "${SRV_PIN[@]}" "$HERE/peer-strong/run.sh" "$port" "$STRONG_DIR/client-jwks.json" || return 0
  log "  start-up to first 200: $SRV_MS ms"
  sleep 1
  meta peer_strong_start_ms "$SRV_MS"
  meta peer_strong_idle_kb "$(rss_kb "$SRV_PID" VmRSS)"
  if strong_sanity "$name" "$port" EdDSA; then
    load_strong peer node EdDSA "$port"
  fi
  stop_current
}

# ----------------------------------------------------------------------------------------- run
[ "$STRONG" = 1 ] && { strong_keys || true; }
for backend in $BACKENDS; do
  case "$backend" in
    sqlite|postgres) run_keycard "$backend" ;;
    *) fail "unknown backend $backend" ;;
  esac
done
[ "$PEER" = 1 ] && run_peer

meta load_after "$(cut -d' ' -f1-3 /proc/loadavg)"
meta failures "$FAILURES"
python3 "$TOOL" render "$RESULTS" "$META"
[ -z "$FAILURES" ]
