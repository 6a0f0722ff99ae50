#!/usr/bin/env bash
# The funnel rebuild benchmark: 1 M leads / 5 M transitions, a full rebuild in Rust against the
# same aggregation in DuckDB over the same data exported to CSV, in one run (it prints both and
# their ratio). Installs DuckDB's Python package into .venv (infra/scripts/venv.sh, then
# requirements-bench.txt), builds in the bench profile (optimised for speed) and runs the benchmark at low priority.
#
#   infra/scripts/bench-rebuild.sh [--leads N] [--snapshots]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
VENV="$(infra/scripts/venv.sh)"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r infra/scripts/requirements-bench.txt >&2

export DUCKDB_PYTHON="$VENV/bin/python"
exec nice -n 10 cargo run --profile bench -p funnel-rollup --example bench_rebuild -- "$@"
