#!/usr/bin/env bash
# The AWS adapters' tests: starts moto (infra/scripts/moto.sh) and runs every test of
# journey-aws, the emulator ones included (they are #[ignore]d for a plain `cargo test`).
# Fails if the emulator tests did not run: passing without having talked to moto is not a pass.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT

infra/scripts/moto.sh -- cargo test -p journey-aws --all-features -- --include-ignored "$@" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
if [[ $status -ne 0 ]]; then
    exit "$status"
fi

ran=$(grep -Eo '^test result: ok\. [0-9]+ passed' "$LOG" | awk '{s+=$4} END {print s+0}')
if [[ "$ran" -eq 0 ]]; then
    echo "test-aws: no test ran" >&2
    exit 1
fi
echo "test-aws: $ran tests passed against moto"
