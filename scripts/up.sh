#!/usr/bin/env bash
# The README's first command: sets everything up, starts a local cluster (etcd, NATS, a
# registry, a controller and one agent, all supervised by `deploy up`), and lists its nodes.
#
#   bash scripts/up.sh [deploy up flags, e.g. --data-dir DIR]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/setup.sh
npx deploy up "$@"
for arg in "$@"; do
  case "$arg" in -h | --help) exit 0 ;; esac
done
npx deploy nodes
