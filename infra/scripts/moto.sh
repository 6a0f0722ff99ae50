#!/usr/bin/env bash
# Runs a command with a local AWS emulator (moto in server mode: DynamoDB and SQS on one port;
# DynamoDB requests one at a time, see moto_server.py).
#
#   infra/scripts/moto.sh -- cargo test -p journey-aws -- --include-ignored
#
# It installs the pinned tools into .venv (infra/scripts/venv.sh), starts `moto_server` on
# 127.0.0.1 on a free port, waits until it answers, clears it (`POST /moto-api/reset`), exports
# JOURNEY_AWS_ENDPOINT plus dummy credentials and region, runs the command, and stops the server
# when the command ends (whatever its outcome). The command's exit code is the script's.
#
# With no command it starts the server, prints the endpoint and waits (Ctrl-C stops it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$("$ROOT/infra/scripts/venv.sh")"
LOG="${JOURNEY_MOTO_LOG:-$ROOT/target/moto.log}"
mkdir -p "$(dirname "$LOG")"

[[ "${1:-}" == "--" ]] && shift

# A free port: bind port 0 and read back what the kernel picked.
PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
ENDPOINT="http://127.0.0.1:$PORT"

# moto_server.py: moto's own server, with DynamoDB requests serialised (see its docstring).
"$VENV/bin/python" "$ROOT/infra/scripts/moto_server.py" 127.0.0.1 "$PORT" >"$LOG" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
    if curl -fsS -X POST "$ENDPOINT/moto-api/reset" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
        echo "moto_server exited; see $LOG" >&2
        exit 1
    fi
    sleep 0.2
done
curl -fsS -X POST "$ENDPOINT/moto-api/reset" >/dev/null || { echo "moto did not answer at $ENDPOINT; see $LOG" >&2; exit 1; }

export JOURNEY_AWS_ENDPOINT="$ENDPOINT"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
echo "moto listening at $ENDPOINT (log: $LOG)" >&2

if [[ $# -eq 0 ]]; then
    echo "JOURNEY_AWS_ENDPOINT=$ENDPOINT"
    wait "$MOTO_PID"
else
    set +e
    "$@"
    status=$?
    set -e
    exit "$status"
fi
