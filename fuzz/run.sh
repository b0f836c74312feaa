#!/usr/bin/env bash
# Builds Keycard's libFuzzer targets and runs each for a bounded time (issue 10 item 7).
#
#   bash fuzz/run.sh                         # every target, FUZZ_SECONDS (default 15) each
#   FUZZ_SECONDS=600 bash fuzz/run.sh jwt    # one target, ten minutes
#   bash fuzz/run.sh --build                 # build only
#   bash fuzz/run.sh --cmin [TARGET...]      # minimise the committed corpora (libFuzzer -merge)
#   bash fuzz/run.sh --grow [TARGET...]      # fuzz FUZZ_SECONDS into the committed corpora, then minimise
#   bash fuzz/run.sh --repro TARGET FILE     # run one input (a crash) through its target
#
# Stable Rust is enough: the targets link libFuzzer through libfuzzer-sys and are built with the
# same instrumentation flags `cargo fuzz build --sanitizer none` uses (no sanitizer: `unsafe` is
# forbidden in Keycard, so AddressSanitizer would add cost, not findings), with debug assertions
# and overflow checks on. `cargo fuzz run <target> --sanitizer none` works on the same crate
# where cargo-fuzz is installed, but this script needs only cargo.
#
# The committed corpora (fuzz/corpus/<target>/) are read, never written: each run fuzzes into a
# scratch directory seeded from them, so CI leaves the tree clean. A crash (panic, failed
# assertion), a hang (-timeout) or running out of memory (-rss_limit_mb) fails the run; the
# crashing input is printed (hex and base64) and kept in fuzz/artifacts/<target>/. Fix the
# defect, add the input to the target's corpus and a regular unit test that fails before the fix.
set -euo pipefail
CALLER=$PWD
cd "$(dirname "$0")"

TARGETS=(form_body basic_credentials jwt jwk dpop_proof client_jws authorize_request redirect_uri scope cookie
  config grant_request small_tokens resource_bearer resource_validate)
SECONDS_EACH=${FUZZ_SECONDS:-15}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
BIN=${CARGO_TARGET_DIR:-target}/$TRIPLE/release

build() {
  # --target keeps RUSTFLAGS off build scripts and proc macros, as cargo-fuzz does.
  RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions -Coverflow-checks ${RUSTFLAGS:-}" \
    cargo build --locked --release --target "$TRIPLE" --bins
}

# Runs libFuzzer on `$1` with the remaining arguments; the committed corpus is read-only input.
fuzz() {
  local t=$1
  shift
  mkdir -p "artifacts/$t"
  "$BIN/$t" -artifact_prefix="artifacts/$t/" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -max_len=8192 -print_final_stats=1 "$@"
}

report_crash() {
  local t=$1 log=$2
  echo "fuzz target $t FAILED:" >&2
  # The panic message (up to the backtrace), then libFuzzer's summary.
  sed -n '/panicked at/,/stack backtrace/p' "$log" | head -n 30 >&2
  grep -E '^(==[0-9]+== ERROR|SUMMARY|MS:)' "$log" | head -n 5 >&2
  for f in "artifacts/$t"/*; do
    [ -f "$f" ] || continue
    echo "--- crashing input $f ($(wc -c <"$f") bytes)" >&2
    echo "hex:    $(od -An -tx1 -v "$f" | tr -d ' \n' | head -c 4096)" >&2
    echo "base64: $(base64 -w0 "$f" | head -c 4096)" >&2
    echo "reproduce: bash fuzz/run.sh --repro $t fuzz/$f" >&2
  done
}

case "${1:-}" in
  --build)
    build
    exit 0
    ;;
  --repro)
    build >/dev/null
    "$BIN/$2" "$(cd "$CALLER" && realpath "$3")"
    exit $?
    ;;
  --grow | --cmin)
    mode=$1
    shift
    build
    list=("$@")
    [ ${#list[@]} -gt 0 ] || list=("${TARGETS[@]}")
    for t in "${list[@]}"; do
      if [ "$mode" = --grow ]; then
        found=$(mktemp -d)
        fuzz "$t" -max_total_time="$SECONDS_EACH" "$found" "corpus/$t" >/dev/null 2>&1 || { echo "$t crashed: run it" >&2; exit 1; }
        cp -n "$found"/* "corpus/$t/" 2>/dev/null || true
        rm -rf "$found"
      fi
      tmp=$(mktemp -d)
      fuzz "$t" -merge=1 "$tmp" "corpus/$t" >"$tmp.log" 2>&1 || { cat "$tmp.log" >&2; exit 1; }
      rm -rf "corpus/$t" && mv "$tmp" "corpus/$t" && rm -f "$tmp.log"
      echo "$t: $(ls "corpus/$t" | wc -l) inputs, $(cat "corpus/$t"/* | wc -c) bytes"
    done
    exit 0
    ;;
esac

if [ $# -gt 0 ]; then
  TARGETS=("$@")
fi
build
failed=0
total_execs=0
for t in "${TARGETS[@]}"; do
  [ -d "corpus/$t" ] || { echo "fuzz/corpus/$t is missing" >&2; exit 1; }
  scratch=$(mktemp -d)
  log=$(mktemp)
  rm -rf "artifacts/$t"
  # New inputs go to the scratch directory (the first corpus directory); the committed one is
  # only read. -max_total_time bounds the run.
  if fuzz "$t" -max_total_time="$SECONDS_EACH" "$scratch" "corpus/$t" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1 | cut -d' ' -f2)
    printf '%-20s %8s runs in %ss, coverage %s, %s new inputs\n' "$t" "${execs:-?}" "$SECONDS_EACH" "${cov:-?}" \
      "$(ls "$scratch" | wc -l)"
    total_execs=$((total_execs + ${execs:-0}))
  else
    report_crash "$t" "$log"
    failed=1
  fi
  rm -rf "$scratch" "$log"
done
echo "fuzz: ${#TARGETS[@]} targets, $total_execs runs in all, $([ $failed = 0 ] && echo 0 || echo some) crashes"
exit $failed
