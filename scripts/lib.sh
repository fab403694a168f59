# Shared helpers for run.sh and test.sh: install what is missing, find PostgreSQL.
# Sourced, not executed.

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# Directory holding initdb/pg_ctl/postgres: the newest /usr/lib/postgresql/*/bin, else PATH.
pg_bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
  return 1
}

ensure_postgres() {
  if ! pg_bin_dir >/dev/null; then
    log "installing PostgreSQL (apt-get)"
    apt_install postgresql postgresql-contrib
    # Debian's package starts a cluster of its own; GaiaRouter runs private ones.
    as_root service postgresql stop >/dev/null 2>&1 || true
  fi
  PG_BIN=$(pg_bin_dir)
  export PG_BIN
}

ensure_node() {
  if ! command -v npm >/dev/null 2>&1; then
    log "installing Node.js and npm (apt-get)"
    apt_install nodejs npm
  fi
}

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust (https://rustup.rs) first" >&2
    exit 1
  fi
  # jemalloc (the gateway's allocator) is built from C with make.
  command -v make >/dev/null 2>&1 || apt_install make
}

# Runs a command as an unprivileged user when we are root (initdb/postgres refuse root).
PG_USER=postgres
as_pg_user() {
  if [ "$(id -u)" -ne 0 ]; then "$@"; return; fi
  id "$PG_USER" >/dev/null 2>&1 || PG_USER=nobody
  runuser -u "$PG_USER" -- "$@"
}

# Waits until `curl -f` of a URL succeeds: $1 the URL, $2 at most so many seconds.
wait_for() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}

# Starts a throwaway PostgreSQL cluster on a free loopback port, removed on exit.
# Sets PG_TMP, PG_PORT and PG_URL (superuser `postgres`, database `postgres`).
# $1: extra server options (e.g. "-c fsync=off").
start_throwaway_postgres() {
  PG_TMP=$(mktemp -d /tmp/gaiarouter-pg-XXXXXX)
  chmod 755 "$PG_TMP"
  if [ "$(id -u)" -eq 0 ]; then
    id "$PG_USER" >/dev/null 2>&1 || PG_USER=nobody
    chown "$PG_USER" "$PG_TMP"
  fi
  PG_PORT=$(free_port)
  trap stop_throwaway_postgres EXIT
  log "starting a throwaway PostgreSQL on 127.0.0.1:$PG_PORT"
  as_pg_user "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres --auth=trust -E UTF8 >/dev/null
  as_pg_user "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/postgres.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_TMP -c max_connections=1000 -c shared_buffers=256MB ${1:-}" \
    start >/dev/null
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

stop_throwaway_postgres() {
  [ -n "${PG_TMP:-}" ] || return 0
  as_pg_user "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_TMP"
}
