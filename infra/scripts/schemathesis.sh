#!/usr/bin/env bash
# Property-based tests of a running API against its own OpenAPI document: schemathesis
# generates requests from /openapi.json and checks every answer (documented status, content
# type, response schema, problem documents for rejected input, no 5xx).
#
# Usage: infra/scripts/schemathesis.sh BASE_URL [extra `st run` arguments]
#   BASE_URL  e.g. http://127.0.0.1:3000: the local stack, started with
#             `cargo run -- serve --db /tmp/schemathesis.db` (X-Dev-User auth on 127.0.0.1)
# Env: ST_MAX_EXAMPLES (default 50) examples per operation; ST_USER the X-Dev-User claims
#   (default: an admin, who may call every operation).
#
# Installs schemathesis into the repo's .venv (created if missing). Which refusals of
# schema-valid requests are correct, and why, is in schemathesis.toml beside this script.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
base="${1:?usage: $0 BASE_URL [st run arguments]}"
shift

venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==4.32.5"

# schemathesis keeps its crash cache (for `st replay`) in the working directory; keep it in
# the ignored target/ directory rather than in the repository.
work="$root/target/schemathesis"
mkdir -p "$work"
cd "$work"

user="${ST_USER:-{\"sub\":\"schemathesis\",\"roles\":\"admin\"}}"
exec "$venv/bin/st" --config-file "$root/infra/scripts/schemathesis.toml" run "$base/openapi.json" \
    --url "$base" \
    --header "X-Dev-User: $user" \
    --checks all \
    --max-examples "${ST_MAX_EXAMPLES:-50}" \
    "$@"
