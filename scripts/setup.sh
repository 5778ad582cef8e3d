#!/usr/bin/env bash
# Installs what Flotilla needs on Debian 12 and builds it. Idempotent: prints one line per
# step it actually takes, and nothing when there is nothing to do.
#
#   bash scripts/setup.sh [--no-build]
#
# 1. Debian packages, when any is missing (needs root): apt-get update, then install, with
#    service start-up blocked: Flotilla starts etcd, nats-server and the registry itself on
#    ports of its choosing, never as system daemons on the default ports.
# 2. npm ci, when node_modules is missing or package-lock.json changed since the last one
#    (a stamp with the lock's hash is kept in node_modules).
# 3. npm run build (tsc -b, incremental), unless --no-build.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    -h | --help)
      sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "setup: unknown argument '$arg'; valid: --no-build, --help" >&2
      exit 2
      ;;
  esac
done

say() { echo "setup: $*"; }
fail() {
  echo "setup: $*" >&2
  exit 1
}

# --- Node.js ---------------------------------------------------------------------------
# Debian 12's own nodejs is 18; Node 20 comes from elsewhere, so only check it.
command -v node >/dev/null || fail "node is not installed; Flotilla needs Node.js 20 or newer (with npm)"
command -v npm >/dev/null || fail "npm is not installed; it comes with Node.js 20 or newer"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || fail "node $(node --version) is too old; Flotilla needs Node.js 20 or newer"

# --- Debian packages -------------------------------------------------------------------
packages=(etcd-server nats-server runc conmon containernetworking-plugins iptables iproute2
  docker-registry busybox-static protobuf-compiler skopeo apache2-utils attr zstd
  python3) # python3: the agent's attach and terminal relay (agent/src/runtime/conmon/stdio-relay.ts)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    fail "missing Debian packages: ${missing[*]}; run this script as root, or: sudo apt-get install ${missing[*]}"
  fi
  policy=/usr/sbin/policy-rc.d
  backup=""
  restore_policy() {
    if [ -n "$backup" ]; then mv -f "$backup" "$policy"; else rm -f "$policy"; fi
  }
  if [ -e "$policy" ]; then
    backup=$(mktemp /usr/sbin/policy-rc.d.flotilla.XXXXXX)
    cp -p "$policy" "$backup"
  fi
  trap restore_policy EXIT
  # 101 = "action forbidden": invoke-rc.d then starts no service during the install.
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"

  export DEBIAN_FRONTEND=noninteractive
  say "apt-get update"
  apt-get update -qq >/dev/null || fail "apt-get update failed"
  say "installing ${missing[*]}"
  apt-get install -y -qq "${missing[@]}" >/dev/null ||
    fail "apt-get install ${missing[*]} failed"

  restore_policy
  trap - EXIT
  # policy-rc.d stops services from starting now; on a systemd host also make sure the
  # ones this run installed are not enabled for the next boot.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    for pkg in "${missing[@]}"; do
      case "$pkg" in
        etcd-server) unit=etcd ;;
        nats-server | docker-registry) unit=$pkg ;;
        *) continue ;;
      esac
      if systemctl is-enabled --quiet "$unit" 2>/dev/null || systemctl is-active --quiet "$unit" 2>/dev/null; then
        say "disabling the system service $unit (Flotilla runs its own)"
        systemctl disable --now --quiet "$unit" 2>/dev/null || true
      fi
    done
  fi
fi

# --- npm packages ----------------------------------------------------------------------
stamp=node_modules/.flotilla-lock.sha256
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$lock_hash" ]; then
  say "npm ci"
  log=$(mktemp)
  if ! npm ci --no-audit --no-fund >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    fail "npm ci failed"
  fi
  rm -f "$log"
  echo "$lock_hash" >"$stamp"
fi

# --- build -----------------------------------------------------------------------------
if [ "$build" = 1 ]; then
  # tsc -b is incremental; --verbose tells us whether it built anything worth a line.
  log=$(mktemp)
  if ! node node_modules/typescript/bin/tsc -b tsconfig.json --verbose >"$log" 2>&1; then
    grep -vE '^\[[0-9:. APM]+\] |^    \* ' "$log" >&2 || true
    rm -f "$log"
    fail "build failed (npm run build)"
  fi
  built=$(sed -nE "s/^.*Building project '([^']*)'.*$/\1/p" "$log" |
    sed -E "s#^$root/##; s#/tsconfig\.json\$##" | tr '\n' ' ')
  rm -f "$log"
  [ -z "$built" ] || say "built ${built% }"
  # The CLI's bundle (bin/deploy.js starts much faster from it), remade when stale.
  bundled=$(node scripts/bundle-cli.mjs --if-stale) || fail "bundling the CLI failed (node scripts/bundle-cli.mjs)"
  [ -z "$bundled" ] || say "$bundled"
  # The agent's bundle (bin/flotilla-agent.js runs it: less memory), remade when stale.
  bundled=$(node scripts/bundle-agent.mjs --if-stale) || fail "bundling the agent failed (node scripts/bundle-agent.mjs)"
  [ -z "$bundled" ] || say "$bundled"
  # The Kubernetes model type maps manifests are checked against, extracted once.
  node scripts/kube-models.mjs --if-stale || fail "extracting the Kubernetes models failed (node scripts/kube-models.mjs)"
fi
