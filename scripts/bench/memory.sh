#!/usr/bin/env bash
# Resident memory of an idle gateway and what logins leave behind (see README.md here):
# starts the release binary alone (embedded PostgreSQL, or $DATABASE_URL), then prints
# its RSS 20 s after start, after 10 sequential operator logins, after 4 concurrent ones,
# and 15 s later, with the peak (VmHWM). Each login hashes with argon2 (19 MiB of working
# memory); what a gateway keeps after them is the point of the figures.
#
# Knobs: BENCH_NO_BUILD=1 (use the binary already in target/release), BENCH_PORT.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
export PATH="$HOME/.cargo/bin:$PATH"

ensure_rust
command -v curl >/dev/null || apt_install curl
if [ -z "${DATABASE_URL:-}" ]; then
  ensure_postgres
  export GAIAROUTER_PG_BIN="$PG_BIN"
fi
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  log "building gaiarouter (release)"
  cargo build --release --bin gaiarouter
fi
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/gaiarouter
PORT=${BENCH_PORT:-$(free_port)}
BASE=http://127.0.0.1:$PORT
PASSWORD=memory-bench-password
WORK=$(mktemp -d /tmp/gaiarouter-memory.XXXXXX)
GATEWAY_PID=""
cleanup() {
  if [ -n "$GATEWAY_PID" ]; then
    kill "$GATEWAY_PID" 2>/dev/null || true
    wait "$GATEWAY_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

env -u GAIAROUTER_CONFIG -u GAIAROUTER_STATIC_DIR GAIAROUTER_DATA_DIR="$WORK/data" \
  GAIAROUTER_LISTEN="127.0.0.1:$PORT" GAIAROUTER_ADMIN_USERNAME=admin GAIAROUTER_ADMIN_PASSWORD="$PASSWORD" \
  RUST_LOG=warn "$BIN" >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
wait_for "$BASE/health" 60 || { tail -n 30 "$WORK/gateway.log" >&2; exit 1; }

mib() { awk -v k="$1:" '$1 == k { printf "%.1f MiB", $2 / 1024 }' "/proc/$GATEWAY_PID/status"; }
login() {
  curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}"
}

sleep 20
echo "idle, 20 s after start:      $(mib VmRSS)"
codes=""
for _ in $(seq 10); do codes="$codes $(login)"; done
echo "after 10 sequential logins: $(mib VmRSS) (answers:$codes)"
pids=()
for n in 1 2 3 4; do
  (echo "$(login)" >"$WORK/login.$n") &
  pids+=($!)
done
wait "${pids[@]}"
echo "after 4 concurrent logins:  $(mib VmRSS) (answers: $(cat "$WORK"/login.* | tr '\n' ' '))"
sleep 15
echo "15 s later:                 $(mib VmRSS); peak $(mib VmHWM)"
