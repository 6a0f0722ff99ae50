#!/usr/bin/env bash
# `sam build` of every function in template.yaml for arm64, then the size of each stripped
# bootstrap against the 6 MB target (exit status 1 if one is over it). Slow: it cross-compiles
# the workspace in release mode with cargo-lambda and zig, once per function (10.5 minutes from
# an empty target directory on an idle 2-core machine, 25 with other builds running; a few
# minutes when only our crates changed).
#
# Installs what it needs, so it runs on a fresh machine with a Rust toolchain and Python 3:
#   - the aarch64 standard library (`rustup target add aarch64-unknown-linux-gnu`, if missing);
#   - the SAM CLI (scripts/requirements.txt) and cargo-lambda, which brings zig as the
#     cross-linker (scripts/requirements-build.txt), into .venv.
#
# The build goes to $CARGO_TARGET_DIR (default: target/) and the bootstraps to .aws-sam/build.
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

# rust-cargolambda is a beta build method of SAM. Each function is built on its own
# (`cargo lambda build --release --arm64 --bin <Binary>`), as a deployment builds it.
sam build --beta-features --template-file template.yaml

# The 6 MB target of issue 8, in bytes.
LIMIT=6000000
over=0
echo "stripped arm64 bootstrap sizes (target: at most 6 MB each):"
for bootstrap in .aws-sam/build/*/bootstrap; do
    function="$(basename "$(dirname "$bootstrap")")"
    bytes="$(stat -c %s "$bootstrap")"
    # A bootstrap with a symbol table was not stripped, and its size would mislead.
    if file "$bootstrap" | grep -q 'not stripped'; then
        echo "  $function: not stripped" >&2
        over=1
    fi
    mark=""
    if ((bytes > LIMIT)); then
        mark="  OVER"
        over=1
    fi
    printf '  %-22s %10d bytes  %5.2f MB%s\n' "$function" "$bytes" "$(echo "$bytes / 1000000" | bc -l)" "$mark"
done
exit "$over"
