#!/usr/bin/env bash
# The README's first command: sets everything up, starts a local cluster (etcd, NATS, a
# registry, a controller and one agent, all supervised by `deploy up`), then runs the sample
# web app (examples/web, built and pushed by `deploy up`) on it and prints its URL.
#
#   bash scripts/up.sh [deploy up flags, e.g. --data-dir DIR]
#
# The web app's host port is 8080, or FLOTILLA_WEB_PORT. Running it again keeps what runs.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/setup.sh
npx deploy up "$@"
data_args=()
prev=""
for arg in "$@"; do
  case "$arg" in
    -h | --help) exit 0 ;;
    --data-dir=*) data_args=("$arg") ;;
  esac
  [ "$prev" = "--data-dir" ] && data_args=(--data-dir "$arg")
  prev=$arg
done
npx deploy nodes

# The registry `deploy up` pushed the examples to, as `deploy status` lists it.
registry=$(npx deploy status "${data_args[@]}" | awk '$1 == "registry" && $2 == "running" { print $5; exit }')
[ -n "$registry" ] || { echo "up: the local registry is not running; see: npx deploy status" >&2; exit 1; }
port=${FLOTILLA_WEB_PORT:-8080}

if npx deploy ps -a -q | grep -qx web; then
  echo "up: the sample web app (pod web) exists already; it is left as it is"
else
  npx deploy run -d --name web -p "$port:8080" --restart always "$registry/examples/web:latest" >/dev/null
fi
npx deploy ps --filter name=web
url="http://127.0.0.1:$port/"
for _ in $(seq 1 100); do
  if node -e 'fetch(process.argv[1]).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "$url"; then
    echo
    echo "The sample web app is served at $url (pod web; deploy logs web, deploy rm -f web)."
    exit 0
  fi
  sleep 0.2
done
echo "up: $url did not answer; see: npx deploy ps -a, npx deploy logs web" >&2
exit 1
