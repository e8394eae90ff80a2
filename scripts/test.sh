#!/usr/bin/env bash
# The whole test suite: typecheck, lint, unit + integration tests (the BPF ones need root,
# and run in CI, which is root) with a coverage gate. `npm test` runs setup first.
set -euo pipefail
cd "$(dirname "$0")/.."

# tp_btf hooks do not need tracefs, but tools and classic tracepoints do: mount it if missing.
if [ "$(id -u)" = 0 ] && [ -d /sys/kernel/tracing ] && ! mountpoint -q /sys/kernel/tracing; then
  mount -t tracefs nodev /sys/kernel/tracing || echo "test: could not mount tracefs (continuing)" >&2
fi

npx tsc -p tsconfig.json --noEmit
npx biome check --error-on-warnings
shopt -s nullglob
files=(test/unit/*.test.ts test/integration/*.test.ts test/security/*.test.ts)
exec npx c8 --check-coverage --lines 85 --include 'src/**' --reporter text-summary \
  node --import tsx --test --test-concurrency=1 "${files[@]}"
