#!/usr/bin/env bash
# The README's test command: sets everything up, then lints, checks the generated protobuf
# code, builds, and runs the whole test suite (test/run.mjs). A failed lint, proto check
# or build does not stop the tests: everything runs, each failed step counts as one
# failure, and the last line is always the summary "N passed, N failed[, N skipped]".
#
#   bash scripts/test.sh [test/run.mjs arguments, e.g. test/unit]
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if ! bash scripts/setup.sh --no-build; then
  echo "test: setup failed, so no test could run" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

failed=()
step() {
  local name=$1
  shift
  echo "test: $name"
  "$@" || failed+=("$name")
}

# Build before lint: typed linting resolves @flotilla/* through the packages' dist/*.d.ts.
step build npm run --silent build
step lint npm run --silent lint
step proto:check npm run --silent proto:check

args=(--no-build)
for name in "${failed[@]}"; do args+=(--failed-step "$name"); done
echo "test: test suite"
node test/run.mjs "${args[@]}" "$@"
