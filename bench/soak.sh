#!/usr/bin/env bash
# Keycard's long soak: the long runs of the reliability suite (issue 10, docs/reliability.md),
# each one a scenario function below, each bounded in time. CI runs the short versions of the
# same tests (`cargo test`); this script runs them long, in release mode, one after another,
# and prints each scenario's figures, its duration and the load average.
#
# Adding a scenario: write `scenario_<name>()` (run it through `run_cargo_test` or
# `run_bounded`, which apply the time budget and record the result), add <name> to SCENARIOS
# and a line to usage(), and its section in docs/reliability.md ("The long soak").
set -euo pipefail

SCENARIOS="crash exactly-once"

usage() {
  cat <<'EOF'
Usage: bench/soak.sh [SCENARIO...] [--rounds N] [--budget MIN] [--debug] [--keep] [--list] [--help]

Runs the long reliability scenarios (default: all of them), each under a time budget, and
prints their figures. Exits non-zero when a scenario fails or runs out of time.

Scenarios:
  --crash         kill -9 under mixed load, CRASH_ROUNDS rounds per backend (SQLite, then
                  PostgreSQL): tests/crash_safety.rs (issue 10 item 2)
  --exactly-once  one code and one refresh token raced by 64 requests over two PostgreSQL
                  nodes, EXACTLY_ONCE_ROUNDS rounds: tests/exactly_once.rs (item 1)
  --all           every scenario (the default when none is named)

Options:
  --rounds N    rounds of every scenario named (overrides CRASH_ROUNDS, EXACTLY_ONCE_ROUNDS)
  --budget MIN  time budget of each scenario in minutes (SOAK_BUDGET_MIN); a scenario still
                running then is stopped (SIGTERM, SIGKILL 30 s later) and counts as failed
  --debug       debug build (faster to build, slower to run) instead of --release
  --keep        keep the work directory (logs, JSON figures) and print where it is
  --list        print the scenario names
  -h, --help    this text

Environment (defaults in brackets):
  CRASH_ROUNDS [50]  EXACTLY_ONCE_ROUNDS [1000]  SOAK_BUDGET_MIN [45]  BUILD_BUDGET_MIN [40]
  KEYCARD_CRASH_SEED  replay a crash run's operation mix and kill points (printed by every run)
  KEYCARD_TEST_POSTGRES_URL [postgres://postgres@127.0.0.1:5432/test]  (PostgreSQL is required:
  KEYCARD_TEST_REQUIRE_POSTGRES=1 is set for every scenario; nothing stops or restarts it)

Bound: at most BUILD_BUDGET_MIN + SOAK_BUDGET_MIN per scenario (default 40 + 2 x 45 minutes);
see docs/reliability.md for how long the last run took.
EOF
}

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
CRASH_ROUNDS="${CRASH_ROUNDS:-50}"
EXACTLY_ONCE_ROUNDS="${EXACTLY_ONCE_ROUNDS:-1000}"
SOAK_BUDGET_MIN="${SOAK_BUDGET_MIN:-45}"
BUILD_BUDGET_MIN="${BUILD_BUDGET_MIN:-40}"
PROFILE="--release"
KEEP=0
PICKED=""

while [ $# -gt 0 ]; do
  case "$1" in
    --crash) PICKED="$PICKED crash" ;;
    --exactly-once) PICKED="$PICKED exactly-once" ;;
    --all) PICKED="$SCENARIOS" ;;
    --rounds) [ $# -ge 2 ] || { echo "--rounds needs a number" >&2; exit 2; }
      CRASH_ROUNDS="$2"; EXACTLY_ONCE_ROUNDS="$2"; shift ;;
    --budget) [ $# -ge 2 ] || { echo "--budget needs minutes" >&2; exit 2; }
      SOAK_BUDGET_MIN="$2"; shift ;;
    --debug) PROFILE="" ;;
    --keep) KEEP=1 ;;
    --list) echo "$SCENARIOS" | tr ' ' '\n'; exit 0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
PICKED="${PICKED:-$SCENARIOS}"
for n in "$CRASH_ROUNDS" "$EXACTLY_ONCE_ROUNDS" "$SOAK_BUDGET_MIN" "$BUILD_BUDGET_MIN"; do
  case "$n" in ''|*[!0-9]*) echo "rounds and budgets must be whole numbers (got '$n')" >&2; exit 2 ;; esac
  [ "$n" -ge 1 ] || { echo "rounds and budgets must be >= 1" >&2; exit 2; }
done

OUT="$(mktemp -d "${TMPDIR:-/tmp}/keycard-soak.XXXXXX")"
cleanup() { if [ "$KEEP" = 1 ]; then echo "work directory kept: $OUT" >&2; else rm -rf "$OUT"; fi; }
trap cleanup EXIT

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
RESULTS=()
FAILED=0

# run_bounded NAME BUDGET_MIN CMD...: runs CMD (output to $OUT/NAME.log) under the budget and
# records status, seconds and the load average before and after.
run_bounded() {
  local name="$1" budget="$2"; shift 2
  local logf="$OUT/$name.log" before t0 rc=0 status
  before="$(loadavg)"; t0=$(date +%s)
  log "$name: started (budget ${budget} min, load $before)"
  timeout --kill-after=30 "${budget}m" "$@" >"$logf" 2>&1 || rc=$?
  case "$rc" in
    0) status=ok ;;
    124|137) status="TIMEOUT after ${budget} min"; FAILED=1 ;;
    *) status="FAILED (exit $rc)"; FAILED=1 ;;
  esac
  local secs=$(( $(date +%s) - t0 ))
  RESULTS+=("$name: $status in ${secs} s; load before $before, after $(loadavg)")
  log "$name: $status in ${secs} s"
  if [ "$status" != ok ]; then
    echo "---- $name: last lines of its log ($logf) ----" >&2
    tail -n 60 "$logf" >&2
  fi
}

# run_cargo_test NAME TEST [VAR=VALUE...]: one integration test target of the keycard crate,
# with PostgreSQL required and its output shown live.
run_cargo_test() {
  local name="$1" test="$2"; shift 2
  # shellcheck disable=SC2086 # PROFILE is empty or one flag
  run_bounded "$name" "$SOAK_BUDGET_MIN" env KEYCARD_TEST_REQUIRE_POSTGRES=1 "$@" \
    cargo test $PROFILE -p keycard --test "$test" -- --nocapture --test-threads=1
}

build() {
  local targets=()
  for s in $PICKED; do
    case "$s" in
      crash) targets+=(--test crash_safety) ;;
      exactly-once) targets+=(--test exactly_once) ;;
    esac
  done
  # shellcheck disable=SC2086
  run_bounded build "$BUILD_BUDGET_MIN" cargo test $PROFILE -p keycard "${targets[@]}" --no-run
}

# Issue 10 item 2: kill -9 under mixed load, per backend.
scenario_crash() {
  run_cargo_test crash crash_safety KEYCARD_CRASH_ROUNDS="$CRASH_ROUNDS" KEYCARD_CRASH_REPORT="$OUT/crash.jsonl"
  if [ -s "$OUT/crash.jsonl" ]; then
    RESULTS+=("crash figures (JSON, one line per backend):")
    while IFS= read -r line; do RESULTS+=("  $line"); done <"$OUT/crash.jsonl"
  fi
  grep -E '^crash_safety\[[a-z]+\]:' "$OUT/crash.log" | grep -v ' seed 0x[0-9a-f]* (replay' >&2 || true
}

# Issue 10 item 1: exactly once across two nodes on PostgreSQL.
scenario_exactly_once() {
  run_cargo_test exactly-once exactly_once KEYCARD_EXACTLY_ONCE_ROUNDS="$EXACTLY_ONCE_ROUNDS"
  grep -E '^exactly_once' "$OUT/exactly-once.log" >&2 || true
}

cd "$ROOT"
log "soak: scenarios:$PICKED; profile ${PROFILE:---debug}; crash rounds $CRASH_ROUNDS, exactly-once rounds $EXACTLY_ONCE_ROUNDS; load $(loadavg)"
STARTED=$(date +%s)
build
if [ "$FAILED" = 0 ]; then
  for s in $PICKED; do
    case "$s" in
      crash) scenario_crash ;;
      exactly-once) scenario_exactly_once ;;
      *) echo "unknown scenario $s" >&2; exit 2 ;;
    esac
  done
fi
echo
echo "== soak summary ($(( $(date +%s) - STARTED )) s in all, $(date -u +%Y-%m-%dT%H:%MZ)) =="
printf '%s\n' "${RESULTS[@]}"
exit "$FAILED"
