#!/usr/bin/env bash
# Creates the repo's Python virtual environment (.venv at the repo root) and installs the pinned
# tools the AWS side needs: moto (the DynamoDB + SQS emulator), cfn-lint and the SAM CLI.
# Idempotent: a venv that already has the pinned versions is left alone.
#
# Usage: infra/scripts/venv.sh            (prints the venv's path)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${JOURNEY_VENV:-$ROOT/.venv}"
PINS="$ROOT/infra/scripts/requirements.txt"
STAMP="$VENV/.journey-pins"

if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV" >&2
fi

# Reinstall only when the pins changed since the last install.
if [[ ! -f "$STAMP" ]] || ! cmp -s "$PINS" "$STAMP"; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PINS" >&2
    cp "$PINS" "$STAMP"
fi

echo "$VENV"
