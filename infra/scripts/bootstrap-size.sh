#!/usr/bin/env bash
# Builds the `lambda_probe` example of journey-aws for arm64 with cargo-lambda (release profile
# of the workspace, stripped) and prints its size: what a function using the AWS adapters
# weighs before its own code. Slow (a full cross-build); not part of the test run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$("$ROOT/infra/scripts/venv.sh")"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/infra/scripts/requirements-build.txt" >&2
cd "$ROOT"
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu
fi

PATH="$VENV/bin:$PATH" cargo lambda build --release --arm64 -p journey-aws --example lambda_probe
bootstrap="$(find target/lambda -path '*lambda_probe*' -name bootstrap | head -1)"
printf 'lambda_probe (arm64, stripped): %s bytes\n' "$(stat -c %s "$bootstrap")"
