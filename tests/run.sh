#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need
# (the wasm32-wasip2 target, supabase-js from npm), builds the `supalite`
# binary (which builds the wasm components), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; STEP_START=$(date +%s); }
done_step() { printf '== done in %ss\n' "$(( $(date +%s) - STEP_START ))"; }

step "rustup target add wasm32-wasip2"
rustup target add wasm32-wasip2
done_step

step "npm ci (tests/js: @supabase/supabase-js)"
(cd tests/js && npm ci --no-audit --no-fund)
done_step

step "cargo build --release -p supalite (host + wasm components)"
cargo build --release --locked -p supalite
done_step

step "cargo test --release --workspace"
cargo test --release --locked --workspace
done_step
