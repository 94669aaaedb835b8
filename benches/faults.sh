#!/usr/bin/env bash
# Faults under load, by hand (docs/RELIABILITY.md): a notify storm whose notifies WeChat-like
# re-sends until acknowledged, while
#   kill        one of two instances on one PostgreSQL is killed with SIGKILL;
#   pg-restart  PostgreSQL is restarted under the running instance;
#   crash       the only instance (SQLite) is killed with SIGKILL and started again;
#   wechat      WeChat loses a tenth of the notifies and fails 30 % of the service's calls
#               (the query job must find the lost payments, about 3 minutes).
# Then the load generator checks through the database that every order was paid exactly once.
#   cargo build --release -p examdesk -p loadgen
#   benches/faults.sh [kill|pg-restart|crash|wechat ...]     # all four by default, about 6 minutes
# BIN=target/debug ORDERS=1500 FAULT_AFTER=0.2 benches/faults.sh: the small version CI runs after cargo test.
# Needs root (or sudo) for pg-restart; PostgreSQL at $PG (default the development one).
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
cleanup() { for p in "${PIDS[@]}" "${INSTANCES[@]}"; do kill "$p" 2>/dev/null || true; done; }
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

start_sim
status=0
for s in "${@:-kill pg-restart crash wechat}"; do
  for one in $s; do
    case "$one" in
      kill) scenario_kill || status=1 ;;
      pg-restart) scenario_pg_restart || status=1 ;;
      crash) scenario_crash || status=1 ;;
      wechat) scenario_wechat || status=1 ;;
      *) echo "unknown scenario: $one (kill, pg-restart, crash, wechat)" >&2; exit 2 ;;
    esac
  done
done
echo "reports in $OUT"
exit "$status"
