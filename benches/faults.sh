#!/usr/bin/env bash
# Faults under load, by hand (docs/RELIABILITY.md): a notify storm whose notifies WeChat-like
# re-sends until acknowledged, while
#   kill        one of two instances on one PostgreSQL is killed with SIGKILL;
#   pg-restart  PostgreSQL is restarted under the running instance;
#   crash       the only instance (SQLite) is killed with SIGKILL and started again;
#   wechat      WeChat loses a tenth of the notifies and fails 30 % of the service's calls
#               (the query job must find the lost payments, about 3 minutes);
#   failover    the PostgreSQL primary under two instances is killed with SIGKILL, its
#               synchronous standby promoted, and the one address they use moves to it.
# Then the load generator checks through the database that every order was paid exactly once.
#   cargo build --release -p examdesk -p loadgen
#   benches/faults.sh [kill|pg-restart|crash|wechat|failover ...]   # all five by default, about 7 minutes
# BIN=target/debug ORDERS=1500 FAULT_AFTER=0.2 benches/faults.sh: the small version CI runs after cargo test.
# Needs root (or sudo) for pg-restart and failover; PostgreSQL at $PG (default the development one).
#
# failover sets up its own PostgreSQL, fresh on every run and dropped at the end (the cluster at $PG
# is not touched): two throwaway clusters of the installed version, examdesk-fo-primary on
# FO_PRIMARY_PORT (5433) and examdesk-fo-standby on FO_STANDBY_PORT (5434), the standby a
# pg_basebackup of the primary streaming from it with application_name examdesk_fo_standby, which
# is the primary's synchronous_standby_names (synchronous_commit = on: a commit returns only once
# the standby has flushed it). The service, migrations and the load generator's checks all use one
# address, haproxy on FO_PORT (5440, installed from Debian's packages when missing), mode tcp. Its
# health check speaks PostgreSQL's protocol and asks pg_is_in_recovery(): only a primary is up, so
# the standby takes no connection before its promotion and takes them right after; the old
# primary's sessions are shut when it is marked down. haproxy rather than sqlx's multi-host URLs
# (sqlx has none) or pgbouncer (which does not check its servers; switching means editing its
# configuration). The scenario: SIGKILL to the primary's postmaster and all its processes at once,
# then pg_ctlcluster … promote on the standby; a probe measures the seconds without service (a
# write through the address, instance A's /healthz).
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${BIN:-${CARGO_TARGET_DIR:-$HERE/target}/release}"
OUT="${OUT:-/tmp/examdesk-faults}"
ORDERS="${ORDERS:-10000}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
# Seconds into the timed phase at which the fault strikes.
FAULT_AFTER="${FAULT_AFTER:-1}"
mkdir -p "$OUT"

SIM=127.0.0.1:18190
A=127.0.0.1:18181
B=127.0.0.1:18182
merchant=(WECHAT_APPID=wxd930ea5d5a258f4f WECHAT_APP_SECRET=demo-app-secret-not-a-real-one
  WECHAT_MCH_ID=10000100 WECHAT_API_KEY=192006250b4c09247ec02edce69f6a2d
  WECHAT_PAY_BASE_URL=http://$SIM WECHAT_API_BASE_URL=http://$SIM)
PIDS=()
INSTANCES=()
cleanup() {
  for p in "${PIDS[@]}" "${INSTANCES[@]}"; do kill "$p" 2>/dev/null || true; done
  if declare -F fo_teardown >/dev/null; then fo_teardown; fi
}
trap cleanup EXIT

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
say() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

wait_healthy() {
  for _ in $(seq 100); do curl -sf "http://$1/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "no answer from $1" >&2
  return 1
}

# start_instance NAME BIND DATABASE_URL [JOB_INTERVAL]: examdesk serve in production mode, logs in
# $OUT/NAME.log; background jobs off unless an interval is given.
start_instance() {
  env "${merchant[@]}" EXAMDESK_BIND="$2" EXAMDESK_DATABASE_URL="$3" EXAMDESK_LOGIN_PER_MINUTE=0 EXAMDESK_UNPAID_HOLDS_PER_ADDRESS=0 \
    EXAMDESK_JOB_INTERVAL_SECONDS="${4:-0}" EXAMDESK_LOG=warn "$BIN/examdesk" serve >>"$OUT/$1.log" 2>&1 &
  LAST_PID=$!
  INSTANCES+=("$LAST_PID")
  sleep 0.2
  kill -0 "$LAST_PID" 2>/dev/null || { tail -3 "$OUT/$1.log" >&2; return 1; }
  wait_healthy "$2"
}

stop_instances() {
  for p in "${INSTANCES[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  INSTANCES=()
}

fresh_pg() {
  local name="examdesk_faults_$1"
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
  echo "$PG/$name"
}

big_exam() {
  EXAMDESK_DATABASE_URL="$1" "$BIN/examdesk" exam create --code "F$2" --title "2026年故障演练考试" \
    --fee-fen 5000 --capacity 98901 --opens 2026-01-01T00:00:00Z --closes 2030-01-01T00:00:00Z \
    --starts 2030-01-02T00:00:00Z
}

# storm NAME DATABASE_URL EXAM [loadgen options…]: in the background; LOADGEN_PID, log in $OUT/NAME.err.
storm() {
  local name=$1 db=$2 exam=$3; shift 3
  # Emptied here, not by the redirection below: that runs in the background job, and the wait for
  # the timed phase must not read a report left by an earlier run.
  : >"$OUT/$name.err"
  rm -f "$OUT/$name.json"
  "$BIN/loadgen" notify-storm --url "http://$A" --database-url "$db" --exam-id "$exam" \
    --orders "$ORDERS" --concurrency 64 --repeat-share 0.2 --resend-ms 200 --max-seconds 600 \
    --json "$OUT/$name.json" "$@" >"$OUT/$name.txt" 2>"$OUT/$name.err" &
  LOADGEN_PID=$!
}

# Waits until the storm's timed phase has begun, then a little more.
into_timed_phase() {
  until grep -qs "timed:" "$OUT/$1.err"; do
    kill -0 "$LOADGEN_PID" 2>/dev/null || { cat "$OUT/$1.err" >&2; return 1; }
    sleep 0.05
  done
  sleep "${2:-0.5}"
}

finish() {
  local status=0
  wait "$LOADGEN_PID" || status=$?
  cat "$OUT/$1.txt"
  local resent
  resent=$(grep -o '"failed_attempts_resent": [0-9]*' "$OUT/$1.json" | grep -o '[0-9]*$' || echo 0)
  if [ "${resent:-0}" -eq 0 ] && [ "${2:-expect-failures}" = expect-failures ]; then
    echo "note: no notify failed, so the fault came after the storm; raise ORDERS to hit it mid-run"
  fi
  echo "loadgen exit status: $status"
  return "$status"
}

# --- failover: a primary and a synchronous standby, one address (haproxy) -------------------
FO_VERSION="${FO_VERSION:-$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)}"
FO_PRIMARY=examdesk-fo-primary
FO_STANDBY=examdesk-fo-standby
FO_PRIMARY_PORT="${FO_PRIMARY_PORT:-5433}"
FO_STANDBY_PORT="${FO_STANDBY_PORT:-5434}"
FO_PORT="${FO_PORT:-5440}"
FO_URL="postgres://postgres@127.0.0.1:$FO_PORT"
# The standby's name at the primary: synchronous_standby_names and application_name agree.
FO_SYNC_NAME=examdesk_fo_standby
FO_UP=

as_postgres() { as_root runuser -u postgres -- "$@"; }
fo_datadir() { as_root pg_lsclusters -h | awk -v c="$1" '$2 == c { print $6 }'; }
fo_psql() { psql "postgres://postgres@127.0.0.1:$1/postgres?connect_timeout=2" -qtAX "${@:2}"; }

# Installs haproxy from Debian's packages when it is missing (a fresh machine has only postgresql).
fo_ensure_haproxy() {
  HAPROXY="$(command -v haproxy || ls /usr/sbin/haproxy 2>/dev/null || true)"
  if [ -z "$HAPROXY" ]; then
    echo "haproxy is not installed: installing it from Debian's packages"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq haproxy >/dev/null
    HAPROXY=/usr/sbin/haproxy
  fi
}

# Drops both throwaway clusters if they exist (a run cut short leaves them behind).
fo_drop() {
  local c
  for c in "$FO_STANDBY" "$FO_PRIMARY"; do
    if as_root pg_lsclusters -h | awk '{ print $2 }' | grep -qx "$c"; then
      as_root pg_ctlcluster --skip-systemctl-redirect "$FO_VERSION" "$c" stop -m immediate >/dev/null 2>&1 || true
      # Its server log, kept with the reports.
      as_root cat "/var/log/postgresql/postgresql-$FO_VERSION-$c.log" >"$OUT/$c.log" 2>/dev/null || true
      as_root pg_dropcluster "$FO_VERSION" "$c"
    fi
    # pg_dropcluster leaves the conf.d file written here.
    as_root rm -rf "/etc/postgresql/$FO_VERSION/$c"
  done
}

fo_teardown() {
  [ -n "$FO_UP" ] || return 0
  if [ -n "${HAPROXY_PID:-}" ]; then
    kill "$HAPROXY_PID" 2>/dev/null || true
    wait "$HAPROXY_PID" 2>/dev/null || true
    HAPROXY_PID=
  fi
  fo_drop
  FO_UP=
}

# fo_cluster NAME PORT: a new, stopped cluster: trust over 127.0.0.1 (replication too), its own
# settings in conf.d, not started with the machine.
fo_cluster() {
  as_root pg_createcluster "$FO_VERSION" "$1" -p "$2" --start-conf manual >/dev/null
  local etc="/etc/postgresql/$FO_VERSION/$1"
  as_root tee "$etc/pg_hba.conf" >/dev/null <<HBA
local all         all                 peer
host  all         all    127.0.0.1/32 trust
host  replication all    127.0.0.1/32 trust
HBA
  as_root tee "$etc/conf.d/examdesk-failover.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
synchronous_commit = on
wal_keep_size = '256MB'
CONF
}

fo_start() { as_root pg_ctlcluster --skip-systemctl-redirect "$FO_VERSION" "$1" start; }

# The primary on FO_PRIMARY_PORT; the standby on FO_STANDBY_PORT, a base backup of it streaming
# from it under the name the primary waits for. Only the primary has synchronous_standby_names:
# the standby, once promoted, must not wait for a standby of its own.
fo_clusters() {
  fo_drop
  FO_UP=1
  fo_cluster "$FO_PRIMARY" "$FO_PRIMARY_PORT"
  echo "synchronous_standby_names = '$FO_SYNC_NAME'" |
    as_root tee -a "/etc/postgresql/$FO_VERSION/$FO_PRIMARY/conf.d/examdesk-failover.conf" >/dev/null
  fo_start "$FO_PRIMARY"
  fo_cluster "$FO_STANDBY" "$FO_STANDBY_PORT"
  echo "primary_conninfo = 'host=127.0.0.1 port=$FO_PRIMARY_PORT user=postgres application_name=$FO_SYNC_NAME'" |
    as_root tee -a "/etc/postgresql/$FO_VERSION/$FO_STANDBY/conf.d/examdesk-failover.conf" >/dev/null
  local data; data=$(fo_datadir "$FO_STANDBY")
  as_root find "$data" -mindepth 1 -delete
  as_postgres "/usr/lib/postgresql/$FO_VERSION/bin/pg_basebackup" -h 127.0.0.1 -p "$FO_PRIMARY_PORT" -U postgres \
    -D "$data" -X stream --checkpoint=fast
  as_postgres touch "$data/standby.signal"
  fo_start "$FO_STANDBY"
  local state=
  for _ in $(seq 100); do
    state=$(fo_psql "$FO_PRIMARY_PORT" -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$FO_SYNC_NAME'")
    [ "$state" = sync ] && break
    sleep 0.1
  done
  [ "$state" = sync ] || { echo "the standby is not a synchronous standby (state '$state')" >&2; return 1; }
  echo "primary on $FO_PRIMARY_PORT, synchronous standby on $FO_STANDBY_PORT (sync_state = sync)"
}

# haproxy on FO_PORT, in front of both. Its health check logs in as postgres and asks
# pg_is_in_recovery(): a server is up only while it answers false, i.e. only a primary takes
# connections; a hot standby never gets one before it is promoted.
fo_haproxy() {
  fo_ensure_haproxy
  # PostgreSQL's wire protocol in hex: the startup message (length 0x48, protocol 3.0,
  # user\0postgres\0database\0postgres\0application_name\0haproxy-check\0\0); AuthenticationOk, which
  # trust answers (R, 8, 0); a simple query (Q, 0x1f, SELECT pg_is_in_recovery()\0) sent with
  # Terminate (X, 4), so that a standby's 't' fails the check at once, on the closed connection;
  # the data row of one column 'f' (D, 0x0b, 1 column, 1 byte, 'f').
  cat >"$OUT/haproxy.cfg" <<CFG
global
  maxconn 1000
  log stderr format iso local0 notice
defaults
  mode tcp
  log global
  # A refused connection is tried again after min(timeout connect, 1 s), up to 3 times, each
  # time at whichever server is up then (a client connecting during the switch waits instead of failing).
  timeout connect 250ms
  retries 3
  option redispatch 1
  # Idle pooled connections must not be cut by the proxy.
  timeout client 1h
  timeout server 1h
  timeout check 1s
listen postgres
  bind 127.0.0.1:$FO_PORT
  option tcp-check
  tcp-check connect
  tcp-check send-binary 00000048000300007573657200706f73746772657300646174616261736500706f737467726573006170706c69636174696f6e5f6e616d6500686170726f78792d636865636b0000
  tcp-check expect binary 520000000800000000
  tcp-check send-binary 510000001f53454c4543542070675f69735f696e5f7265636f766572792829005800000004
  tcp-check expect binary 440000000b00010000000166
  default-server inter 200ms fall 2 rise 1 on-marked-down shutdown-sessions
  server primary 127.0.0.1:$FO_PRIMARY_PORT check
  server standby 127.0.0.1:$FO_STANDBY_PORT check backup
CFG
  "$HAPROXY" -db -f "$OUT/haproxy.cfg" >"$OUT/haproxy.log" 2>&1 &
  HAPROXY_PID=$!
  PIDS+=("$HAPROXY_PID")
  for _ in $(seq 50); do
    [ "$(fo_psql "$FO_PORT" -c "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ] && return 0
    sleep 0.1
  done
  echo "no primary through haproxy at 127.0.0.1:$FO_PORT" >&2
  cat "$OUT/haproxy.log" >&2
  return 1
}

# SIGKILL to the primary's postmaster and every process it started, at once; FO_KILLED lists them.
fo_kill_primary() {
  local data pm
  data=$(fo_datadir "$FO_PRIMARY")
  pm=$(as_root head -n 1 "$data/postmaster.pid")
  FO_KILLED="$pm $(pgrep -P "$pm" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  as_root kill -9 $FO_KILLED
}

# Fails if any process in FO_KILLED still runs (a zombie does not count).
fo_killed() {
  local p
  for p in $FO_KILLED; do
    if ps -o stat= -p "$p" | grep -qv '^Z'; then
      echo "process $p of the primary still runs after SIGKILL" >&2
      return 1
    fi
  done
  echo "none of the primary's $(wc -w <<<"$FO_KILLED") processes (postmaster and children) is left"
}

start_sim() {
  env "${merchant[@]}" "$BIN/examdesk" simulator --bind "$SIM" >"$OUT/sim.log" 2>&1 &
  PIDS+=("$!")
  sleep 0.5
}

# two_instances NAME [JOB_INTERVAL]: a fresh PostgreSQL database, migrated once, and instances A and
# B on it; sets DB and A_PID.
two_instances() {
  DB=$(fresh_pg "$1")
  EXAMDESK_DATABASE_URL="$DB" "$BIN/examdesk" migrate >/dev/null
  start_instance "$1-a" "$A" "$DB" "${2:-0}"; A_PID=$LAST_PID
  start_instance "$1-b" "$B" "$DB" "${2:-0}"
}

scenario_kill() {
  say "kill: two instances on one PostgreSQL, instance A killed with SIGKILL mid-storm"
  two_instances kill
  local exam; exam=$(big_exam "$DB" KILL)
  storm kill "$DB" "$exam" --also-url "http://$B"
  into_timed_phase kill "$FAULT_AFTER"
  kill -9 "$A_PID"
  echo "SIGKILL sent to instance A (pid $A_PID) at $(date -u +%H:%M:%S.%N)"
  local status=0
  finish kill || status=$?
  stop_instances
  return "$status"
}

scenario_pg_restart() {
  say "pg-restart: PostgreSQL restarted under the running instance mid-storm"
  local db; db=$(fresh_pg restart)
  start_instance restart-a "$A" "$db"
  local exam; exam=$(big_exam "$db" RESTART)
  storm pg-restart "$db" "$exam"
  into_timed_phase pg-restart "$FAULT_AFTER"
  echo "restarting PostgreSQL at $(date -u +%H:%M:%S.%N)"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main restart
  echo "PostgreSQL back at $(date -u +%H:%M:%S.%N)"
  local status=0
  finish pg-restart || status=$?
  curl -sf "http://$A/healthz" >/dev/null && echo "instance answers /healthz after the restart, never restarted itself"
  stop_instances
  return "$status"
}

scenario_crash() {
  say "crash: the only instance (SQLite, synchronous=FULL) killed with SIGKILL mid-storm, started again"
  rm -rf "$OUT/crash" && mkdir -p "$OUT/crash"
  local db="sqlite://$OUT/crash/examdesk.db"
  start_instance crash-a "$A" "$db"; local a=$LAST_PID
  local exam; exam=$(big_exam "$db" CRASH)
  storm crash "$db" "$exam"
  into_timed_phase crash "$FAULT_AFTER"
  kill -9 "$a"
  echo "SIGKILL sent at $(date -u +%H:%M:%S.%N); starting it again in 1 s"
  sleep 1
  start_instance crash-a "$A" "$db"
  local status=0
  finish crash || status=$?
  stop_instances
  return "$status"
}

scenario_wechat() {
  say "wechat: two instances on one PostgreSQL, jobs every second; 10 % of the payments lose their notify, 30 % of the service's calls to WeChat fail"
  two_instances wechat 1
  local exam; exam=$(big_exam "$DB" WECHAT)
  # The query job asks WeChat about an order 3 minutes after it was placed (jobs::QUERY_AFTER).
  storm wechat "$DB" "$exam" --also-url "http://$B" --simulator-url "http://$SIM" --lost-share 0.1 \
    --wechat-fail-rate 0.3
  local status=0
  finish wechat no-notify-fault || status=$?
  stop_instances
  return "$status"
}

# fo_downtime KILLED_AT: run in the background right after the SIGKILL. Polls every 50 ms, until
# both have succeeded once: a write through haproxy's address (a row in failover_probe), and
# instance A's /healthz (SELECT 1 through the instance's own pool, which only a primary behind the
# address can answer). Writes the seconds from the SIGKILL to each success (when the answer came,
# not when the attempt began: haproxy holds a connection while it tries the servers again) in
# $OUT/failover.downtime.
fo_downtime() {
  local killed=$1 write= health=
  since() { awk -v a="$killed" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
  while [ -z "$write" ] || [ -z "$health" ]; do
    if [ -z "$write" ] && psql "$FO_URL/failover_probe?connect_timeout=1" -qtAXc "INSERT INTO probe VALUES (now())" >/dev/null 2>&1; then
      write=$(since)
    fi
    if [ -z "$health" ] && curl -sf -m 1 "http://$A/healthz" >/dev/null; then
      health=$(since)
    fi
    sleep 0.05
  done
  printf 'write %s\nhealthz %s\n' "$write" "$health" >"$OUT/failover.downtime"
}

# fo_last_error KILLED_AT LOG…: seconds from the SIGKILL to the last ERROR or WARN line of the
# instances' logs (each failed statement on a connection the kill broke logs one).
fo_last_error() {
  local killed=$1 last; shift
  last=$(grep -h -E '^[0-9T:.-]+Z +(ERROR|WARN)' "$@" | awk '{ print $1 }' | sort | tail -n 1)
  if [ -z "$last" ]; then echo "none"; return; fi
  awk -v a="$killed" -v b="$(date -d "$last" +%s.%N)" 'BEGIN { printf "%.2f s", b - a }'
}

scenario_failover() {
  say "failover: the PostgreSQL primary killed with SIGKILL mid-storm, its synchronous standby promoted, haproxy's address switched"
  fo_clusters || return 1
  fo_haproxy || return 1
  psql "$FO_URL/postgres" -qc "CREATE DATABASE examdesk_faults_failover" -c "CREATE DATABASE failover_probe"
  psql "$FO_URL/failover_probe" -qc "CREATE TABLE probe (at timestamptz NOT NULL)"
  local db="$FO_URL/examdesk_faults_failover"
  EXAMDESK_DATABASE_URL="$db" "$BIN/examdesk" migrate >/dev/null
  start_instance failover-a "$A" "$db"
  start_instance failover-b "$B" "$db"
  local exam; exam=$(big_exam "$db" FAILOVER)
  storm failover "$db" "$exam" --also-url "http://$B"
  into_timed_phase failover "$FAULT_AFTER"
  local killed status=0; killed=$(date +%s.%N)
  echo "SIGKILL to the primary at $(date -u +%H:%M:%S.%N)"
  fo_kill_primary || status=1
  # Started after the kill, so that the probe's first answer cannot come from the dead primary.
  rm -f "$OUT/failover.downtime"
  fo_downtime "$killed" &
  local probe=$!
  as_root pg_ctlcluster --skip-systemctl-redirect "$FO_VERSION" "$FO_STANDBY" promote
  echo "standby promoted at $(date -u +%H:%M:%S.%N)"
  fo_killed || status=1
  finish failover || status=$?
  wait "$probe" || true
  grep -h 'is UP\|is DOWN\|no server available' "$OUT/haproxy.log" | grep -v '^\[' || true
  local write health
  write=$(awk '$1 == "write" { print $2 }' "$OUT/failover.downtime")
  health=$(awk '$1 == "healthz" { print $2 }' "$OUT/failover.downtime")
  echo "seconds without service after the SIGKILL: $write until a write through the address commits, $health until instance A's /healthz answers"
  echo "the instances' last database error after the SIGKILL: $(fo_last_error "$killed" "$OUT/failover-a.log" "$OUT/failover-b.log")"
  psql "$db" -qtAXc "SELECT count(*) || ' orders paid on the promoted server, ' || count(DISTINCT transaction_id) || ' transaction ids' FROM orders WHERE status = 'paid'"
  stop_instances
  fo_teardown
  return "$status"
}

start_sim
status=0
for s in "${@:-kill pg-restart crash wechat failover}"; do
  for one in $s; do
    case "$one" in
      kill) scenario_kill || status=1 ;;
      pg-restart) scenario_pg_restart || status=1 ;;
      crash) scenario_crash || status=1 ;;
      wechat) scenario_wechat || status=1 ;;
      failover) scenario_failover || status=1 ;;
      *) echo "unknown scenario: $one (kill, pg-restart, crash, wechat, failover)" >&2; exit 2 ;;
    esac
  done
done
echo "reports in $OUT"
exit "$status"
