#!/usr/bin/env bash
# Load benchmark of GaiaRouter (see scripts/bench/README.md).
#
# Builds gaiarouter and fake_upstream in release, starts the fake OpenAI upstream, a
# bare nginx reverse proxy in front of it (the floor of any gateway: one proxy hop),
# and GaiaRouter (embedded PostgreSQL with fsync on, or $DATABASE_URL), creates an
# organization and an unlimited `write` key, and runs oha against:
#   direct to the fake upstream | through nginx | through GaiaRouter (openai/gpt-4o-mini)
#   x non-streaming | streaming  x 64 | 256 concurrent clients
#   + one client, non-streaming: direct, through nginx, through GaiaRouter (added latency)
#   + GaiaRouter with echo/bench (no upstream), non-streaming, 64 clients
#   + a route of two deployments (both on the fake upstream, weights 1:1) against the
#     single built-in deployment, non-streaming, 64 clients: the cost of routing.
#   + a key and organization that both have limits (budgets per day and month, rates
#     per minute, a cap on requests in flight: six quotas per request, none reached)
#     against the unlimited key, non-streaming, 64 clients: the cost of admission.
#   + two GaiaRouter processes on the one database against one process (2 x 32 clients).
# Prints a table, each GaiaRouter figure as a multiple of the nginx hop's in the same
# run, checks that every successful request through GaiaRouter left exactly one
# RequestCompleted event, and prints the gateways' peak RSS. Stops everything it
# started. Only 127.0.0.1 traffic.
#
# Knobs: BENCH_DURATION (15 s per scenario), BENCH_WARMUP (3 s before each),
# BENCH_CONCURRENCY ("64 256"), BENCH_UPSTREAM_PORT (9900), BENCH_PORT (free port),
# BENCH_NO_BUILD=1 (use the binaries already in target/release),
# BENCH_KEEP_DIR=1 (keep the temporary directory with the logs and oha's JSON),
# BENCH_ONLY=floor (only direct, nginx hop and GaiaRouter at 64/256 clients and at one),
# BENCH_ONLY=latency (only the one-client trio), BENCH_ONLY=processes (only one process
# against two), BENCH_HOP_PORT and BENCH_BARE_PORT (free ports),
# BENCH_ONLY=routing (only the single-deployment vs two-deployment-route pair),
# BENCH_ONLY=streaming (only GaiaRouter non-streaming and streaming at 64 clients),
# BENCH_ONLY=limits (only the unlimited vs limited key pair), BENCH_ONLY=refusals (64 clients on a key
# over its limit, and 32 served clients alone and beside a flood of 32 refused ones), BENCH_ORG_LIMITS and
# BENCH_KEY_LIMITS (the limited pair's `limits` JSON; monthly ones only for a binary
# from before budgets and rates).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

DURATION=${BENCH_DURATION:-15}
WARMUP=${BENCH_WARMUP:-3}
CONCURRENCY=${BENCH_CONCURRENCY:-64 256}
UPSTREAM_PORT=${BENCH_UPSTREAM_PORT:-9900}
PORT=${BENCH_PORT:-$(free_port)}
HOP_PORT=${BENCH_HOP_PORT:-$(free_port)}
BARE_PORT=${BENCH_BARE_PORT:-$(free_port)}
PORT2=$(free_port)
UPSTREAM=http://127.0.0.1:$UPSTREAM_PORT
GATEWAY=http://127.0.0.1:$PORT
HOP=http://127.0.0.1:$HOP_PORT
BARE=http://127.0.0.1:$BARE_PORT
GATEWAY2=http://127.0.0.1:$PORT2
REPORT="python3 scripts/bench/report.py"
export PATH="$HOME/.cargo/bin:$PATH"

# ---------------------------------------------------------------- tools and build
ensure_rust
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }
command -v curl >/dev/null || apt_install curl
if [ -z "${DATABASE_URL:-}" ]; then
  ensure_postgres
  export GAIAROUTER_PG_BIN="$PG_BIN"
fi
command -v psql >/dev/null || [ -x "${PG_BIN:-/nonexistent}/psql" ] || apt_install postgresql-client
PSQL_BIN=$(command -v psql || echo "$PG_BIN/psql")
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$NGINX_BIN" ]; then
  log "installing nginx (apt-get; the bench runs its own instance, not Debian's service)"
  apt_install nginx-light 2>/dev/null || apt_install nginx
  as_root service nginx stop >/dev/null 2>&1 || true
  NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
fi
if ! command -v oha >/dev/null; then
  log "installing oha (cargo install oha --locked)"
  cargo install oha --locked
fi
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  log "building gaiarouter and fake_upstream (release)"
  cargo build --release --bin gaiarouter --bin fake_upstream --bin bare_proxy
fi
GATEWAY_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/gaiarouter
UPSTREAM_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/fake_upstream
BARE_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/bare_proxy

# ---------------------------------------------------------------- processes and cleanup
WORK=$(mktemp -d /tmp/gaiarouter-bench.XXXXXX)
chmod 755 "$WORK"   # embedded PostgreSQL runs as `postgres` when we are root
RESULTS=$WORK/results
mkdir -p "$RESULTS"
GW_PID=""
GW2_PID=""
UP_PID=""
NGINX_PID=""
BARE_PID=""
SAMPLER_PID=""

stop_pid() { # pid, seconds to wait after SIGTERM before SIGKILL
  local pid=$1 wait=${2:-10} i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < wait * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  log "process $pid did not stop in ${wait}s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [ -n "$SAMPLER_PID" ] && stop_pid "$SAMPLER_PID" 2
  # SIGTERM: GaiaRouter finishes in-flight requests and stops its embedded PostgreSQL.
  stop_pid "$GW2_PID" 60
  stop_pid "$GW_PID" 60
  stop_pid "$NGINX_PID" 5
  stop_pid "$BARE_PID" 5
  stop_pid "$UP_PID" 5
  if [ -z "${DATABASE_URL:-}" ] && [ -f "$WORK/data/postgres/data/postmaster.pid" ]; then
    log "embedded PostgreSQL still running; stopping it"
    as_pg_user "$PG_BIN/pg_ctl" -D "$WORK/data/postgres/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ "${BENCH_KEEP_DIR:-0}" = 1 ] || [ "$status" -ne 0 ]; then
    log "logs and results kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

log "starting fake_upstream on $UPSTREAM"
if curl -fsS -o /dev/null "$UPSTREAM/health" 2>/dev/null; then
  echo "something already listens on 127.0.0.1:$UPSTREAM_PORT; set BENCH_UPSTREAM_PORT" >&2
  exit 1
fi
"$UPSTREAM_BIN" --listen "127.0.0.1:$UPSTREAM_PORT" >"$WORK/fake_upstream.log" 2>&1 &
UP_PID=$!
wait_for "$UPSTREAM/health" 10

# The floor: a bare nginx reverse proxy on loopback in front of the same upstream, its
# own prefix and config. What a proxy hop needs and no more: keep-alive to the upstream,
# no access log, no response buffering (so a stream passes as it comes, as through
# GaiaRouter), as many workers as cores.
log "starting nginx (a bare reverse proxy hop) on $HOP"
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
chmod 777 "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  keepalive_requests 1000000;
  upstream fake { server 127.0.0.1:$UPSTREAM_PORT; keepalive 512; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$HOP_PORT;
    location / {
      proxy_pass http://fake;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGINX
"$NGINX_BIN" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/logs/stdout.log" 2>&1 &
NGINX_PID=$!
wait_for "$HOP/health" 10 || { cat "$WORK/nginx/logs/"*.log >&2; exit 1; }

# The floor of GaiaRouter's own stack: the same server, client, runtime and allocator,
# passing bodies through unread (src/bin/bare_proxy.rs). Between it and GaiaRouter is
# GaiaRouter's own work; between nginx and it, the stack's. Absent from an older build.
if [ -x "$BARE_BIN" ]; then
  log "starting bare_proxy (GaiaRouter's stack, no work of its own) on $BARE"
  "$BARE_BIN" --listen "127.0.0.1:$BARE_PORT" --upstream "$UPSTREAM" >"$WORK/bare_proxy.log" 2>&1 &
  BARE_PID=$!
  wait_for "$BARE/health" 10 || { cat "$WORK/bare_proxy.log" >&2; exit 1; }
fi

ADMIN_USER=bench-admin
ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
gateway_env=(
  env -u GAIAROUTER_CONFIG -u GAIAROUTER_STATIC_DIR -u GAIAROUTER_JWT_SECRET
  -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u GOOGLE_API_KEY -u OPENROUTER_API_KEY -u GAIAROUTER_OPENAI_COMPATIBLE
  -u ANTHROPIC_BASE_URL -u GEMINI_BASE_URL -u OPENROUTER_BASE_URL
  GAIAROUTER_DATA_DIR="$WORK/data" GAIAROUTER_LISTEN="127.0.0.1:$PORT"
  GAIAROUTER_ADMIN_USERNAME="$ADMIN_USER" GAIAROUTER_ADMIN_PASSWORD="$ADMIN_PASSWORD"
  OPENAI_BASE_URL="$UPSTREAM/v1" OPENAI_API_KEY=bench RUST_LOG="${RUST_LOG:-warn}"
)
if [ -n "${DATABASE_URL:-}" ]; then
  # The first-start admin exists already in a used database: add a bench operator.
  ADMIN_USER=bench-$(date +%s)-$RANDOM
  log "creating operator $ADMIN_USER in \$DATABASE_URL"
  GAIAROUTER_OPERATOR_PASSWORD="$ADMIN_PASSWORD" "${gateway_env[@]}" \
    "$GATEWAY_BIN" operators create --username "$ADMIN_USER" >>"$WORK/gaiarouter.log" 2>&1
fi

log "starting GaiaRouter (release) on $GATEWAY"
"${gateway_env[@]}" "$GATEWAY_BIN" serve >>"$WORK/gaiarouter.log" 2>&1 &
GW_PID=$!
wait_for "$GATEWAY/health" 120 || { tail -n 30 "$WORK/gaiarouter.log" >&2; exit 1; }
START_RSS=$(awk '/^VmRSS/ {print $2, $3}' "/proc/$GW_PID/status")

if [ -n "${DATABASE_URL:-}" ]; then
  sql() { "$PSQL_BIN" "$DATABASE_URL" -qtAc "$1"; }
else
  sql() { "$PSQL_BIN" -h "$WORK/data/postgres/socket" -p 5432 -U gaiarouter -d gaiarouter -qtAc "$1"; }
fi
# The embedded cluster's postmaster, to count its processes' CPU (empty: every postgres process).
PG_PID=""
if [ -z "${DATABASE_URL:-}" ] && [ -f "$WORK/data/postgres/data/postmaster.pid" ]; then
  PG_PID=$(head -n 1 "$WORK/data/postgres/data/postmaster.pid")
fi
log "PostgreSQL: $(sql 'SHOW server_version' | head -n 1), fsync=$(sql 'SHOW fsync'), synchronous_commit=$(sql 'SHOW synchronous_commit')"

# ---------------------------------------------------------------- organization and key
TOKEN=$(curl -fsS "$GATEWAY/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"$ADMIN_USER\",\"password\":\"$ADMIN_PASSWORD\"}" | json_field access_token)
ORG=$(curl -fsS "$GATEWAY/v1/organizations" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"name\":\"bench-$(date +%s)-$RANDOM\"}" | json_field id)
KEY=$(curl -fsS "$GATEWAY/v1/api-keys" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"organization_id\":\"$ORG\",\"name\":\"bench\",\"permission\":\"write\"}" | json_field key)
log "organization $ORG, unlimited write key ${KEY:0:12}..."
# Limits far above what a run uses: admission checks them all, none refuses.
ORG_LIMITS=${BENCH_ORG_LIMITS:-'{"monthly_requests":1000000000,"monthly_cost_usd":1000000,"daily_tokens":100000000000,"requests_per_minute":100000000}'}
KEY_LIMITS=${BENCH_KEY_LIMITS:-'{"monthly_requests":1000000000,"requests_per_minute":100000000,"tokens_per_minute":100000000000,"concurrent_requests":100000}'}
LIMITED_ORG=$(curl -fsS "$GATEWAY/v1/organizations" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"name\":\"bench-limited-$(date +%s)-$RANDOM\",\"limits\":$ORG_LIMITS}" | json_field id)
LIMITED_KEY=$(curl -fsS "$GATEWAY/v1/api-keys" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"organization_id\":\"$LIMITED_ORG\",\"name\":\"bench-limited\",\"permission\":\"write\",\"limits\":$KEY_LIMITS}" | json_field key)
log "organization $LIMITED_ORG with limits, limited write key ${LIMITED_KEY:0:12}..."
# A key over its limit: one request a month, spent below. Its flood is refused (429).
OVER_ORG=$(curl -fsS "$GATEWAY/v1/organizations" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"name\":\"bench-over-$(date +%s)-$RANDOM\"}" | json_field id)
OVER_KEY=$(curl -fsS "$GATEWAY/v1/api-keys" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"organization_id\":\"$OVER_ORG\",\"name\":\"bench-over\",\"permission\":\"write\",\"limits\":{\"monthly_requests\":1}}" | json_field key)
curl -fsS -o /dev/null "$GATEWAY/v1/chat/completions" -H "Authorization: Bearer $OVER_KEY" \
  -H 'content-type: application/json' -d '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
log "organization $OVER_ORG, key ${OVER_KEY:0:12}... over its monthly limit of one request"
# One request each way before measuring: fail early with the gateway's own answer.
for model in openai/gpt-4o-mini echo/bench; do
  curl -fsS -o /dev/null "$GATEWAY/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -H 'content-type: application/json' -d "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" \
    || { echo "a first request with $model failed" >&2; tail -n 20 "$WORK/gaiarouter.log" >&2; exit 1; }
done
# A route of two deployments on the same upstream: what routing itself costs.
curl -fsS -o /dev/null "$GATEWAY/v1/routes" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"name\":\"bench-route\",\"deployments\":[{\"id\":\"a\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"base_url\":\"$UPSTREAM/v1\"},{\"id\":\"b\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"base_url\":\"$UPSTREAM/v1\"}]}" \
  || { echo "creating the bench route failed" >&2; exit 1; }
EVENTS_BEFORE=$(sql "SELECT count(*) FROM events WHERE event_type='RequestCompleted'")

# ---------------------------------------------------------------- scenarios
body() { # model, stream (0/1)
  local prompt='"messages":[{"role":"user","content":"Say hello to the benchmark in a few words."}]'
  if [ "$2" = 1 ]; then
    printf '{"model":"%s",%s,"stream":true,"stream_options":{"include_usage":true}}' "$1" "$prompt"
  else
    printf '{"model":"%s",%s}' "$1" "$prompt"
  fi
}

children_cpu() { # file written by `times`: user + system seconds of the children (second line)
  awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] } print t }' "$1"
}

COMMITS_SQL="SELECT count(*), count(DISTINCT tx_id) FROM events WHERE event_type='RequestCompleted'"
GATEWAY_OK=0
PEAK_RSS2=""
N=0
run_oha() { # name, seconds, concurrency, url, body, auth header or ""
  local out=$1 args=(--no-tui --output-format json -w -z "${2}s" -c "$3" -m POST -H 'content-type: application/json' -d "$5")
  [ -n "$6" ] && args+=(-H "$6")
  timeout $(($2 + 60)) oha "${args[@]}" "$4" >"$out" 2>"$out.stderr" || {
    echo "oha failed ($out):" >&2
    cat "$out.stderr" >&2
    return 1
  }
}

scenario() { # name, target (direct|hop|gateway), model, stream, concurrency, [key]
  local name=$1 target=$2 model=$3 stream=$4 c=$5 key=${6:-$KEY} url auth="" file
  N=$((N + 1))
  file=$RESULTS/$(printf '%02d' "$N")_$name
  case $target in
    direct) url=$UPSTREAM/v1/chat/completions ;;
    hop) url=$HOP/v1/chat/completions ;;
    bare) url=$BARE/v1/chat/completions ;;
    *)
      url=$GATEWAY/v1/chat/completions
      auth="Authorization: Bearer $key"
      ;;
  esac
  log "$name: ${WARMUP}s warm-up, ${DURATION}s measured, $c clients"
  run_oha "$file.warmup.json" "$WARMUP" "$c" "$url" "$(body "$model" "$stream")" "$auth"
  measure_start "$file" "$target"
  run_oha "$file.json" "$DURATION" "$c" "$url" "$(body "$model" "$stream")" "$auth"
  measure_end "$file" "$target"
  if [ "$target" = gateway ]; then count_ok "$file.warmup.json" "$file.json"; fi
  read -r ok errors rps p50 p99 <<<"$($REPORT summary "$file.json")"
  log "  $rps req/s, p50 $p50 ms, p99 $p99 ms, $ok ok, $errors errors (cpu% gw pg up oha other idle: $(cat "$file.cpu.txt"))"
  # Which scenario sets the gateway's peak RSS: its resident and peak memory after each.
  log "  gateway RSS $(awk '/^VmRSS/ {r = $2} /^VmHWM/ {h = $2} END {printf "%.1f MB, peak so far %.1f MB", r / 1024, h / 1024}' "/proc/$GW_PID/status")"
}

# CPU, group commits and a `top` picture around a measured run: measure_start before
# it, measure_end after it (in this shell: `times` counts the waited-for oha runs).
measure_start() { # file prefix, target
  local file=$1
  if [ "$2" = gateway ]; then sql "$COMMITS_SQL" >"$file.commits-a"; fi
  $REPORT cpu-snapshot "$file.cpu-a" "$(proxy_pids "$2")" "$UP_PID" "$PG_PID"
  # One `top` picture in the middle of the run, for the record.
  (sleep $((DURATION / 2)) && top -b -n 1 -w 200 | head -n 25 >"$file.top.txt") &
  SAMPLER_PID=$!
  times >"$file.times-a"
}

measure_end() { # file prefix, target
  local file=$1
  times >"$file.times-b"
  $REPORT cpu-snapshot "$file.cpu-b" "$(proxy_pids "$2")" "$UP_PID" "$PG_PID"
  if [ "$2" = gateway ]; then sql "$COMMITS_SQL" >"$file.commits-b"; fi
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=""
  $REPORT cpu-delta "$file.cpu-a" "$file.cpu-b" "$(awk -v a="$(children_cpu "$file.times-a")" -v b="$(children_cpu "$file.times-b")" 'BEGIN { print b - a }')" >"$file.cpu.txt"
  if [ "$2" = gateway ]; then
    # Group commit: how many transactions wrote the events of this run, and their size.
    read -r ev_a tx_a <<<"$(tr '|' ' ' <"$file.commits-a")"
    read -r ev_b tx_b <<<"$(tr '|' ' ' <"$file.commits-b")"
    awk -v e=$((ev_b - ev_a)) -v t=$((tx_b - tx_a)) -v d="$DURATION" \
      'BEGIN { if (t > 0) printf "%.0f %.1f\n", t / d, e / t; else print "- -" }' >"$file.commits.txt"
  fi
}

# The processes whose CPU is the "gw" column: the gateway(s), or nginx for the hop.
proxy_pids() { # target
  if [ "$1" = hop ]; then
    echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')" | tr -s ' ' ',' | sed 's/,$//'
  elif [ "$1" = bare ]; then
    echo "$BARE_PID"
  else
    echo "$GW_PID${GW2_PID:+,$GW2_PID}"
  fi
}

count_ok() { # oha JSON files of requests through GaiaRouter
  local f ok
  for f in "$@"; do
    ok=$($REPORT summary "$f" | cut -d' ' -f1)
    GATEWAY_OK=$((GATEWAY_OK + ok))
  done
}

# Served requests of one key while 32 other clients hammer the key over its limit.
flooded_scenario() { # name, concurrency of the served clients
  local flood_file=$RESULTS/flood_$1.json.flood
  run_oha "$flood_file" $((WARMUP + DURATION + 2)) 32 "$GATEWAY/v1/chat/completions" \
    "$(body openai/gpt-4o-mini 0)" "Authorization: Bearer $OVER_KEY" &
  local flood_pid=$!
  scenario "$1" gateway openai/gpt-4o-mini 0 "$2"
  wait "$flood_pid" || true
  read -r flood_rps _ _ flood_codes <<<"$($REPORT answered "$flood_file")"
  log "  meanwhile the over-limit key was answered $flood_rps times/s ($flood_codes)"
}

# 64 clients as two oha runs of 32: both on the first process, or one on each of two
# processes sharing the one database. The row merges both runs (report.py merge).
pair_scenario() { # name, url of the first half, url of the second half
  local name=$1 file a b
  N=$((N + 1))
  file=$RESULTS/$(printf '%02d' "$N")_$name
  log "$name: ${WARMUP}s warm-up, ${DURATION}s measured, 2 x 32 clients"
  run_pair "$file" warmup.json "$WARMUP" "$2" "$3"
  measure_start "$file" gateway
  run_pair "$file" part "$DURATION" "$2" "$3"
  measure_end "$file" gateway
  count_ok "$file.a.warmup.json" "$file.b.warmup.json" "$file.a.part" "$file.b.part"
  $REPORT merge "$file.json" "$file.a.part" "$file.b.part"
  read -r ok errors rps p50 p99 <<<"$($REPORT summary "$file.json")"
  log "  $rps req/s, p50 $p50 ms, p99 $p99 ms, $ok ok, $errors errors (cpu% gw pg up oha other idle: $(cat "$file.cpu.txt"))"
}

run_pair() { # file prefix, suffix, seconds, url of the first half, url of the second half
  local a b
  run_oha "$1.a.$2" "$3" 32 "$4" "$(body openai/gpt-4o-mini 0)" "Authorization: Bearer $KEY" &
  a=$!
  run_oha "$1.b.$2" "$3" 32 "$5" "$(body openai/gpt-4o-mini 0)" "Authorization: Bearer $KEY" &
  b=$!
  wait "$a" && wait "$b"
}

process_scenarios() {
  pair_scenario "gateway-one-process_json_2x32" "$GATEWAY/v1/chat/completions" "$GATEWAY/v1/chat/completions"
  # Same data directory: it reuses the running embedded cluster (or $DATABASE_URL).
  log "starting a second GaiaRouter process on $GATEWAY2, on the same database"
  "${gateway_env[@]}" GAIAROUTER_LISTEN="127.0.0.1:$PORT2" \
    "$GATEWAY_BIN" serve >>"$WORK/gaiarouter2.log" 2>&1 &
  GW2_PID=$!
  wait_for "$GATEWAY2/health" 60 || { tail -n 30 "$WORK/gaiarouter2.log" >&2; exit 1; }
  # The key was made on the first process: wait until the second one knows it.
  local i
  for ((i = 0; i < 100; i++)); do
    curl -fsS -o /dev/null "$GATEWAY2/v1/chat/completions" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
      -d "$(body openai/gpt-4o-mini 0)" 2>/dev/null && { GATEWAY_OK=$((GATEWAY_OK + 1)); break; }
    sleep 0.1
  done
  pair_scenario "gateway-two-processes_json_2x32" "$GATEWAY/v1/chat/completions" "$GATEWAY2/v1/chat/completions"
  PEAK_RSS2=$(awk '/^VmHWM/ {print $2}' "/proc/$GW2_PID/status")
  stop_pid "$GW2_PID" 60
  GW2_PID=""
}

refusal_scenarios() {
  scenario "gateway-openai_json_c32" gateway openai/gpt-4o-mini 0 32
  scenario "gateway-refused_json_c64" gateway openai/gpt-4o-mini 0 64 "$OVER_KEY"
  flooded_scenario "gateway-openai-flooded_json_c32" 32
}

floor_scenarios() {
  local target stream c kind
  for target in direct hop bare gateway; do
    [ "$target" = bare ] && [ -z "$BARE_PID" ] && continue
    for stream in 0 1; do
      for c in $CONCURRENCY; do
        kind=$([ "$stream" = 1 ] && echo stream || echo json)
        case $target in
          direct) scenario "direct-upstream_${kind}_c$c" direct gpt-4o-mini "$stream" "$c" ;;
          hop) scenario "nginx-hop_${kind}_c$c" hop gpt-4o-mini "$stream" "$c" ;;
          bare) scenario "bare-proxy_${kind}_c$c" bare gpt-4o-mini "$stream" "$c" ;;
          gateway) scenario "gateway-openai_${kind}_c$c" gateway openai/gpt-4o-mini "$stream" "$c" ;;
        esac
      done
    done
  done
  latency_scenarios
}

# One client: what a request pays for going through each (latency, not throughput).
latency_scenarios() {
  scenario "direct-upstream_json_c1" direct gpt-4o-mini 0 1
  scenario "nginx-hop_json_c1" hop gpt-4o-mini 0 1
  if [ -n "$BARE_PID" ]; then scenario "bare-proxy_json_c1" bare gpt-4o-mini 0 1; fi
  scenario "gateway-openai_json_c1" gateway openai/gpt-4o-mini 0 1
}

case "${BENCH_ONLY:-}" in
  routing)
    scenario "gateway-openai_json_c64" gateway openai/gpt-4o-mini 0 64
    scenario "gateway-route2_json_c64" gateway bench-route 0 64
    ;;
  refusals) refusal_scenarios ;;
  limits)
    scenario "gateway-openai_json_c64" gateway openai/gpt-4o-mini 0 64
    scenario "gateway-limited_json_c64" gateway openai/gpt-4o-mini 0 64 "$LIMITED_KEY"
    ;;
  floor) floor_scenarios ;;
  streaming)
    scenario "gateway-openai_json_c64" gateway openai/gpt-4o-mini 0 64
    scenario "gateway-openai_stream_c64" gateway openai/gpt-4o-mini 1 64
    ;;
  latency) latency_scenarios ;;
  processes) process_scenarios ;;
  "")
    floor_scenarios
    scenario "gateway-echo_json_c64" gateway echo/bench 0 64
    scenario "gateway-route2_json_c64" gateway bench-route 0 64
    scenario "gateway-limited_json_c64" gateway openai/gpt-4o-mini 0 64 "$LIMITED_KEY"
    refusal_scenarios
    process_scenarios
    ;;
  *)
    echo "unknown BENCH_ONLY=$BENCH_ONLY (routing, limits, refusals, floor, streaming, latency, processes)" >&2
    exit 2
    ;;
esac

# ---------------------------------------------------------------- results
EVENTS_AFTER=$(sql "SELECT count(*) FROM events WHERE event_type='RequestCompleted'")
EVENTS=$((EVENTS_AFTER - EVENTS_BEFORE))
PEAK_RSS=$(awk '/^VmHWM/ {print $2, $3}' "/proc/$GW_PID/status")
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)

echo
echo "GaiaRouter load benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($CPU_MODEL), oha $(oha --version | awk '{print $2}')"
echo "${DURATION}s per scenario after a ${WARMUP}s warm-up; PostgreSQL fsync=$(sql 'SHOW fsync'); req/s = successful responses per second"
echo
$REPORT table "$RESULTS"
echo
echo "RequestCompleted events written during the runs: $EVENTS"
echo "successful responses through GaiaRouter (warm-ups included): $GATEWAY_OK"
if [ "$EVENTS" -eq "$GATEWAY_OK" ]; then
  echo "event check: OK (one RequestCompleted per successful request)"
else
  echo "event check: MISMATCH ($((EVENTS - GATEWAY_OK)) events more than successful responses)"
fi
echo "gateway peak RSS (VmHWM): $PEAK_RSS${PEAK_RSS2:+ (the second process: $PEAK_RSS2 kB)}; at start $START_RSS; now $(awk '/^Rss:/ {r=$2} /^Anonymous:/ {a=$2} END {printf "%d kB, of which %d kB anonymous (heap, stacks) and %d kB mapped files (the binary)", r, a, r - a}' "/proc/$GW_PID/smaps_rollup")"
# Each GaiaRouter figure against the bare nginx hop of the same run, and the latency
# a request pays at one client.
$REPORT floor "$RESULTS"
single=$(ls "$RESULTS"/*_gateway-openai_json_c64.json 2>/dev/null | head -n 1 || true)
routed=$(ls "$RESULTS"/*_gateway-route2_json_c64.json 2>/dev/null | head -n 1 || true)
if [ -n "$single" ] && [ -n "$routed" ]; then
  read -r _ _ single_rps _ _ <<<"$($REPORT summary "$single")"
  read -r _ _ routed_rps _ _ <<<"$($REPORT summary "$routed")"
  awk -v s="$single_rps" -v r="$routed_rps" 'BEGIN { if (s > 0) printf "routing: a two-deployment route served %.0f req/s against %.0f for the single deployment (%.1f%% of its throughput)\n", r, s, 100 * r / s }'
fi
limited=$(ls "$RESULTS"/*_gateway-limited_json_c64.json 2>/dev/null | head -n 1 || true)
if [ -n "$single" ] && [ -n "$limited" ]; then
  read -r _ _ single_rps _ single_p99 <<<"$($REPORT summary "$single")"
  read -r _ _ limited_rps _ limited_p99 <<<"$($REPORT summary "$limited")"
  awk -v s="$single_rps" -v l="$limited_rps" -v sp="$single_p99" -v lp="$limited_p99" 'BEGIN { if (s > 0 && sp > 0) printf "limits: a limited key and organization served %.0f req/s (p99 %s ms) against %.0f (p99 %s ms) for the unlimited key: %.2f x the throughput, %.2f x the p99\n", l, lp, s, sp, l / s, lp / sp }'
fi
refused=$(ls "$RESULTS"/*_gateway-refused_json_c64.json 2>/dev/null | head -n 1 || true)
alone=$(ls "$RESULTS"/*_gateway-openai_json_c32.json 2>/dev/null | head -n 1 || true)
flooded=$(ls "$RESULTS"/*_gateway-openai-flooded_json_c32.json 2>/dev/null | head -n 1 || true)
cpu_ms_per_answer() { # oha JSON, answers/s: gateway + PostgreSQL CPU milliseconds per answer
  awk -v rps="$2" '{ if (rps > 0) printf "%.3f", ($1 + $2) * 10 / rps; else print "-" }' "${1%.json}.cpu.txt"
}
if [ -n "$refused" ] && [ -n "$alone" ]; then
  read -r refused_rps refused_p50 refused_p99 refused_codes <<<"$($REPORT answered "$refused")"
  read -r _ _ alone_rps _ _ <<<"$($REPORT summary "$alone")"
  echo "refusals: 64 clients on a key over its limit were answered $refused_rps times/s (p50 $refused_p50 ms, p99 $refused_p99 ms; $refused_codes) at $(cpu_ms_per_answer "$refused" "$refused_rps") ms of gateway + PostgreSQL CPU per answer, against $(cpu_ms_per_answer "$alone" "$alone_rps") ms per served request (32 clients on an unlimited key)"
fi
if [ -n "$alone" ] && [ -n "$flooded" ]; then
  read -r _ _ alone_rps _ alone_p99 <<<"$($REPORT summary "$alone")"
  read -r _ _ flooded_rps _ flooded_p99 <<<"$($REPORT summary "$flooded")"
  awk -v a="$alone_rps" -v f="$flooded_rps" -v ap="$alone_p99" -v fp="$flooded_p99" 'BEGIN { if (a > 0) printf "refusals: 32 clients of an unlimited key served %.0f req/s (p99 %s ms) while 32 clients hammered a key over its limit, against %.0f (p99 %s ms) alone: %.2f x\n", f, fp, a, ap, f / a }'
fi
refused_events=$(sql "SELECT count(*), coalesce(sum((payload->'RequestRefused'->>'count')::bigint), 0) FROM events WHERE event_type='RequestRefused'")
echo "RequestRefused events (rows, refusals they count): $(echo "$refused_events" | tr '|' ' ')"
if [ "${BENCH_KEEP_DIR:-0}" = 1 ]; then
  echo "oha JSON, CPU samples, top pictures and logs: $RESULTS, $WORK/*.log"
fi
[ "$EVENTS" -eq "$GATEWAY_OK" ]
