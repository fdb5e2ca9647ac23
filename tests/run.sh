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

step "PostgreSQL server binaries (tests run their own cluster)"
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
fi
ls -d /usr/lib/postgresql/*/bin
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
