#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need
# (the wasm32-wasip2 target, PostgreSQL with PostGIS, Chromium, wasmtime-cli, moto, supabase-js,
# playwright-core and the JS host's packages from npm),
# builds the `supalite` binary (which builds the wasm components), then runs
# every test.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_START=$(date +%s)
step() { printf '\n== %s\n' "$*"; STEP_START=$(date +%s); }
done_step() { printf '== done in %ss\n' "$(( $(date +%s) - STEP_START ))"; }

step "rustup target add wasm32-wasip2"
rustup target add wasm32-wasip2
done_step

# Debian packages, installed only when missing (as root or through sudo).
apt_install() {
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

step "PostgreSQL server binaries (tests run their own cluster)"
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || apt_install postgresql
ls -d /usr/lib/postgresql/*/bin
done_step

step "PostGIS for PostgreSQL (the GeoJSON answers, tests/tests/rest_last_mile.rs)"
PG_MAJOR=$(ls /usr/lib/postgresql | sort -n | tail -1)
[ -f "/usr/share/postgresql/$PG_MAJOR/extension/postgis.control" ] || apt_install "postgresql-$PG_MAJOR-postgis-3"
ls "/usr/share/postgresql/$PG_MAJOR/extension/postgis.control"
done_step

step "Chromium (Debian's package; the browser-host test drives it headless)"
[ -x /usr/bin/chromium ] || apt_install chromium
/usr/bin/chromium --version
done_step

step "wasmtime-cli 48.x (stock \`wasmtime serve\` for the portable-pipeline tests)"
WASMTIME_VERSION=48.0.8
have_wasmtime() {
  for w in "${SUPALITE_WASMTIME:-}" wasmtime "$HOME/.cargo/bin/wasmtime"; do
    [ -n "$w" ] && "$w" --version 2>/dev/null | grep -q '^wasmtime 48\.' && { echo "using $w: $("$w" --version)"; return 0; }
  done
  return 1
}
if ! have_wasmtime; then
  # ~17 minutes on 2 cores; reused on later runs.
  cargo install --locked "wasmtime-cli@$WASMTIME_VERSION"
  have_wasmtime
fi
done_step

# Python test servers, pinned in tests/requirements.txt, installed when missing.
step "Python test servers (tests/requirements.txt: moto[server] for the S3 blob store, aiosmtpd for e-mail)"
if ! python3 -c "import moto.server, aiosmtpd" 2>/dev/null; then
  python3 -m pip install --quiet -r tests/requirements.txt 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages -r tests/requirements.txt
fi
python3 -c "import moto, aiosmtpd; print('moto', moto.__version__, 'aiosmtpd', aiosmtpd.__version__)"
done_step

step "npm ci (tests/js: @supabase/supabase-js, playwright-core)"
(cd tests/js && npm ci --no-audit --no-fund)
done_step

step "npm ci (host/js: the JS host — jco, preview2-shim, PGlite for JS)"
(cd host/js && npm ci --no-audit --no-fund)
done_step

# The whole workspace at once: the same feature resolution as `cargo test
# --workspace`, so the test step reuses every artifact (wasmtime included).
step "cargo build --release --workspace (host + wasm components + tests)"
cargo build --release --locked --workspace
done_step

step "cargo test --release --workspace"
log=$(mktemp)
set +e
cargo test --release --locked --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
done_step
echo "total: $(( $(date +%s) - ${SUPALITE_CI_START:-$RUN_START} ))s"
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
