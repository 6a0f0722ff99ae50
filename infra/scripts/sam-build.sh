#!/usr/bin/env bash
# `sam build` of every function in template.yaml for arm64, then the size of each stripped
# bootstrap. Slow: it cross-compiles the workspace with cargo-lambda and zig.
#
# Needs: the aarch64 standard library (`rustup target add aarch64-unknown-linux-gnu`, done here
# if missing) and cargo-lambda (PyPI, installed into .venv; it brings zig).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$("$ROOT/infra/scripts/venv.sh")"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/infra/scripts/requirements-build.txt" >&2
cd "$ROOT"

if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu
fi

export PATH="$VENV/bin:$PATH"
export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

# rust-cargolambda is a beta build method of SAM.
sam build --beta-features --template-file template.yaml

echo "stripped arm64 bootstrap sizes:"
for bootstrap in .aws-sam/build/*/bootstrap; do
    function="$(basename "$(dirname "$bootstrap")")"
    printf '  %-22s %8.2f MB\n' "$function" "$(echo "$(stat -c %s "$bootstrap") / 1000000" | bc -l)"
done
