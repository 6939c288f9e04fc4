#!/usr/bin/env bash
# Every test: the pure Rust core (no X needed), then the addon under Xvfb with node's runner.
# `npm test` runs scripts/setup.sh first (pretest), so the addon is built when this starts.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --exclude stripecast
npx --no-install tsc -p tsconfig.json --noEmit
node --test --test-reporter=spec __test__/*.test.mjs
