#!/usr/bin/env bash
# Installs what Vigil needs and builds it. Safe to run again: it only does what is missing.
#   scripts/setup.sh [run|test|bench|eval]   (the profile decides which optional packages to add)
# eval (and test, whose quick evaluation drives a real agent): the agent CLIs of agents/.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-run}"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { say "$1"; [ -n "${2:-}" ] && say "  fix: $2"; exit 1; }

# Node.js 20+ is the one thing this script cannot install for you.
command -v node >/dev/null || die "Node.js is not installed" "install Node.js 20 or newer with npm, then run this again"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old" "install Node.js 20 or newer"

pkgs=(clang llvm libbpf-dev libelf-dev zlib1g-dev make gcc pkg-config nats-server prometheus-alertmanager)
# Debian ships bpftool on its own; Ubuntu inside linux-tools.
if command -v bpftool >/dev/null; then :; elif apt-cache show bpftool >/dev/null 2>&1; then pkgs+=(bpftool); else pkgs+=(linux-tools-common "linux-tools-$(uname -r)"); fi
case "$profile" in
  bench) pkgs+=(auditd) ;;
  # openssl: the TLS test makes certificates; prometheus: promtool checks deploy/ rules; the
  # rest is what the real-agent evaluation runs them with (a namespace, a user, their tools;
  # opencode searches with ripgrep and would download it).
  test) pkgs+=(openssl prometheus iproute2 util-linux passwd git curl python3 sqlite3 jq ripgrep) ;;
  eval) pkgs+=(iproute2 util-linux passwd git curl python3 sqlite3 jq ripgrep) ;;
  run) ;;
  *) die "unknown profile '$profile'" "use one of: run, test, bench, eval" ;;
esac
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]}" "run as root (sudo), or: apt-get install ${missing[*]}"
  say "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The agent CLIs, pinned by agents/package-lock.json, in a directory of their own: not Vigil's
# dependencies, and not on `npm start`'s path. `npm install` honours the lock file; `npm ci`
# would refuse it where a registry lacks some other platform's optional packages, which the lock
# file then cannot list.
if [ "$profile" = eval ] || [ "$profile" = test ]; then
  if [ ! -f agents/node_modules/.package-lock.json ] || [ agents/package-lock.json -nt agents/node_modules/.package-lock.json ]; then
    say "installing the agent CLIs (agents/package-lock.json)"
    npm install --prefix agents --no-audit --no-fund --loglevel=error
  fi
fi

say "building bpf/ against this kernel's BTF"
make -s -C bpf
say "building TypeScript"
npx tsc -p tsconfig.json
