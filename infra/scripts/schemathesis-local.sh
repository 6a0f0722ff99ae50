#!/usr/bin/env bash
# The API's property-based run as the test command does it: build the local runner, load the
# bundled sample into a scratch store (so lead operations meet real leads, not only 404s),
# serve every function on a free loopback port, run schemathesis against /openapi.json
# (infra/scripts/schemathesis.sh), and stop the server whatever the outcome.
#
#   infra/scripts/schemathesis-local.sh     # ST_MAX_EXAMPLES (default 25) per operation
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
cargo build --quiet --workspace --all-features --bins
journey="${CARGO_TARGET_DIR:-$root/target}/debug/journey"

work="$(mktemp -d)"
db="$work/journey.db"
"$journey" --db "$db" demo >/dev/null 2>"$work/demo.log"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
RUST_LOG=warn "$journey" --db "$db" serve --port "$port" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

for _ in $(seq 1 100); do
    if curl -sf "http://127.0.0.1:$port/openapi.json" >/dev/null; then
        break
    fi
    if ! kill -0 "$server" 2>/dev/null; then
        echo "journey serve exited:" >&2
        cat "$work/serve.log" >&2
        exit 1
    fi
    sleep 0.2
done

ST_MAX_EXAMPLES="${ST_MAX_EXAMPLES:-25}" infra/scripts/schemathesis.sh "http://127.0.0.1:$port"
