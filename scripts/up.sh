#!/usr/bin/env bash
# The README's first command: sets everything up, starts a local cluster of 3 hosts (each a
# network namespace with its own address and agent; etcd, NATS, a registry and a
# controller beside them, all supervised by `deploy up --nodes 3`), then serves the sample
# web app (examples/web, built and pushed by `deploy up`) as a 3-replica Deployment behind a
# NodePort Service (examples/web.yaml), waits until it is rolled out, and prints its URL.
#
#   bash scripts/up.sh [deploy up flags, e.g. --data-dir DIR]
#
# FLOTILLA_NODES sets the number of hosts (default 3). Running it again keeps what runs:
# `deploy up` shows the running cluster and `deploy apply` of the same manifest changes nothing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

nodes=${FLOTILLA_NODES:-3}
for arg in "$@"; do
  case "$arg" in
    -h | --help)
      npx deploy up --help
      exit 0
      ;;
  esac
done

bash scripts/setup.sh
npx deploy up --nodes "$nodes" "$@"
data_args=()
prev=""
for arg in "$@"; do
  case "$arg" in
    --data-dir=*) data_args=("$arg") ;;
  esac
  [ "$prev" = "--data-dir" ] && data_args=(--data-dir "$arg")
  prev=$arg
done
npx deploy nodes

# The registry `deploy up` pushed the examples to, as `deploy status` lists it: on the
# hosts' bridge address, the one the agents inside the hosts reach.
registry=$(npx deploy status "${data_args[@]}" | awk '$1 == "registry" && $2 == "running" { print $5; exit }')
[ -n "$registry" ] || { echo "up: the local registry is not running; see: npx deploy status" >&2; exit 1; }

# examples/web.yaml names the one-agent registry (127.0.0.1:5000); the hosts pull from $registry.
sed "s#127\.0\.0\.1:5000/#$registry/#" examples/web.yaml | npx deploy apply -f - --wait --timeout 180s
npx deploy get pods -o wide -l app=web

# The first host's address and the service's node port: every web-facing host answers on it.
json_field() {
  node -e '
    let text = "";
    process.stdin.on("data", (d) => (text += d)).on("end", () => {
      const doc = JSON.parse(text);
      const value = new Function("doc", `return (${process.argv[1]})`)(doc);
      if (value === undefined || value === "") process.exit(1);
      console.log(value);
    });' "$1"
}
host=$(npx deploy get nodes -o json | json_field \
  'doc.items.map((n) => [n.metadata.name, (n.status.addresses.find((a) => a.type === "InternalIP") || {}).address]).sort()[0][1]')
port=$(npx deploy get service web -o json | json_field 'doc.spec.ports[0].nodePort')
url="http://$host:$port/"
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
  if node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "$url"; then
    echo
    echo "The sample web app is served at $url"
    echo "  by deployment web (3 replicas, one per host) behind service web (nodePort $port on every host)."
    echo "  Which pod answered: curl ${url}cgi-bin/pod   Update it: deploy apply -f examples/web.yaml --wait"
    exit 0
  fi
  sleep 0.2
done
echo "up: $url did not answer; see: npx deploy get endpoints web, npx deploy describe service web, npx deploy logs -l app=web" >&2
exit 1
