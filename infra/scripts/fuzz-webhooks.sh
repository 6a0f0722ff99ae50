#!/usr/bin/env bash
# Fuzzes every form-webhook parser with cargo-fuzz (libFuzzer), one target after another, and
# prints each target's executions and the total time.
#
#   infra/scripts/fuzz-webhooks.sh [seconds-per-target] [target...]
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Each target's corpus
# is seeded with the matching recorded deliveries from ../shared/fixtures/webhooks
# (FIXTURES_DIR overrides it), read in place through links in a scratch folder, never copied
# into the repository. Exits non-zero if any target crashed; the crashing
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

if [ ! -d "$fixtures" ]; then
  echo "fixtures not found at $fixtures (set FIXTURES_DIR)" >&2
  exit 2
fi
fixtures="$(cd "$fixtures" && pwd)"

# Seeds are symbolic links, in a scratch folder outside the repository, to the fixture files
# themselves: libFuzzer reads them in place, and only ever writes to the first corpus folder
# (the gitignored fuzz/corpus/<target>), so no fixture is copied into the repository.
seeds_root="$(mktemp -d)"
trap 'rm -rf "$seeds_root"' EXIT

cd "$fuzz_dir"
# Its own target folder: the fuzz build (nightly, sanitizers) must not share a lock or
# artefacts with the stable build of the workspace.
export CARGO_TARGET_DIR="$fuzz_dir/target"
cargo +nightly fuzz build --release

total_execs=0
total_secs=0
status=0
for t in "${targets[@]}"; do
  corpus="corpus/$t"
  seeds="$seeds_root/$t"
  mkdir -p "$corpus" "$seeds"
  # shellcheck disable=SC2086
  for f in $fixtures/$(seed_glob "$t"); do
    case "$f" in *.headers.json) continue ;; esac
    if [ -f "$f" ]; then ln -s "$f" "$seeds/$(basename "$f")"; fi
  done
  log="$(mktemp)"
  start=$(date +%s)
  if cargo +nightly fuzz run --release "$t" "$corpus" "$seeds" -- \
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
  nseeds=$(find "$seeds" -type l | wc -l)
  printf '%-22s %-5s %10s execs %5ss  (%s fixture seeds)\n' "$t" "$result" "$execs" "$elapsed" "$nseeds"
  total_execs=$(( total_execs + execs ))
  total_secs=$(( total_secs + elapsed ))
  rm -f "$log"
done
printf 'total: %s execs in %ss over %s targets\n' "$total_execs" "$total_secs" "${#targets[@]}"
exit "$status"
