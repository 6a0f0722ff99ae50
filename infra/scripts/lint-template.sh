#!/usr/bin/env bash
# Lints template.yaml with cfn-lint and `sam validate --lint`, offline (a dummy region; no AWS
# account or network needed). Installs the pinned tools into .venv first.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$("$ROOT/infra/scripts/venv.sh")"
cd "$ROOT"

export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_REGION="$AWS_DEFAULT_REGION"
export SAM_CLI_TELEMETRY=0

echo "cfn-lint template.yaml"
"$VENV/bin/cfn-lint" template.yaml
echo "sam validate --lint"
"$VENV/bin/sam" validate --lint --template-file template.yaml --region "$AWS_DEFAULT_REGION"
echo "template.yaml: cfn-lint and sam validate --lint passed"
