#!/usr/bin/env bash
# Fuzzes every form-webhook parser with cargo-fuzz (libFuzzer), one target after another, and
# prints each target's executions and the total time.
#
#   infra/scripts/fuzz-webhooks.sh [seconds-per-target] [target...]
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Each target's corpus
# is seeded with the matching recorded deliveries from ../shared/fixtures/webhooks (read in
# place, never copied into the repository). Exits non-zero if any target crashed; the crashing
# input is left in functions/form-webhook/fuzz/artifacts/<target>/.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
fuzz_dir="$root/functions/form-webhook/fuzz"
fixtures="${FIXTURES_DIR:-$root/../shared/fixtures/webhooks}"
seconds="${1:-60}"
shift || true

all_targets=(parse_typeform parse_tally parse_jotform parse_webflow parse_hubspot parse_calendly
  parse_meta_webhook parse_meta_lead parse_google_forms parse_gravity_forms parse_netlify
  parse_unbounce parse_generic)
targets=("${@:-${all_targets[@]}}")

# The fixture folder (and file filter) that seeds each target.
seed_glob() {
  case "$1" in
    parse_typeform) echo "typeform/*.json" ;;
    parse_tally) echo "tally/*.json" ;;
    parse_jotform) echo "jotform/*.multipart" ;;
    parse_webflow) echo "webflow/*.json" ;;
    parse_hubspot) echo "hubspot/*.json" ;;
    parse_calendly) echo "calendly/*.json" ;;
    parse_meta_webhook) echo "facebook-lead-ads/leadgen_*[!d].json" ;;
    parse_meta_lead) echo "facebook-lead-ads/*.lead.json" ;;
    parse_google_forms) echo "google-forms/*.json" ;;
    parse_gravity_forms) echo "gravity-forms/*.json" ;;
    parse_netlify) echo "netlify-forms/*.json" ;;
    parse_unbounce) echo "unbounce/*.txt" ;;
    parse_generic) echo "generic-json/*.json" ;;
  esac
}

cd "$fuzz_dir"
cargo +nightly fuzz build --release

total_execs=0
total_secs=0
status=0
for t in "${targets[@]}"; do
  corpus="corpus/$t"
  mkdir -p "$corpus"
  # shellcheck disable=SC2086
  for f in $fixtures/$(seed_glob "$t"); do
    case "$f" in *.headers.json) continue ;; esac
    if [ -f "$f" ]; then cp "$f" "$corpus/seed-$(basename "$f")"; fi
  done
  log="$(mktemp)"
  start=$(date +%s)
  if cargo +nightly fuzz run --release "$t" "$corpus" -- \
      -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 -rss_limit_mb=2048 \
      >"$log" 2>&1; then
    result=ok
  else
    result=CRASH
    status=1
    tail -40 "$log"
  fi
  elapsed=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  execs=${execs:-0}
  printf '%-22s %-5s %10s execs %5ss\n' "$t" "$result" "$execs" "$elapsed"
  total_execs=$(( total_execs + execs ))
  total_secs=$(( total_secs + elapsed ))
  rm -f "$log"
done
printf 'total: %s execs in %ss over %s targets\n' "$total_execs" "$total_secs" "${#targets[@]}"
exit "$status"
