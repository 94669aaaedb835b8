#!/usr/bin/env bash
# Side-by-side figures: examdesk (release) and a Python baseline of the same protocol (its folder in
# $ANCHORS, kept outside this repository),
# interleaved on one machine. Writes JSON and logs to $OUT (default /tmp/examdesk-perf).
#   cargo build --release -p examdesk -p loadgen
#   benches/compare.sh            # everything, about 10 minutes
#   PG=postgres://postgres@127.0.0.1:5432 benches/compare.sh   # and PostgreSQL as a column (+ the opening)
#   ONLY=pg PG=… benches/compare.sh                             # PostgreSQL only
#   OPENING=98901 (candidates of the opening scenario, at most one exam's 98,901 seats), ORDERS=20000
# Needs the baseline's set-up once ($ANCHORS/setup.sh: wrk, a Python venv).
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$HERE/target}/release"
ANCHORS="${ANCHORS:-$HERE/../shared/anchors}"
OUT="${OUT:-/tmp/examdesk-perf}"
ORDERS="${ORDERS:-20000}"
mkdir -p "$OUT"
export ANCHORS_RESULTS="$OUT/anchors-results" ANCHORS_WORK="$OUT/anchors-work"
mkdir -p "$ANCHORS_RESULTS" "$ANCHORS_WORK"

SIM=127.0.0.1:18090
APP=127.0.0.1:18080
merchant=(WECHAT_APPID=wxd930ea5d5a258f4f WECHAT_APP_SECRET=demo-app-secret-not-a-real-one
  WECHAT_MCH_ID=10000100 WECHAT_API_KEY=192006250b4c09247ec02edce69f6a2d
  WECHAT_PAY_BASE_URL=http://$SIM WECHAT_API_BASE_URL=http://$SIM)

quiet() { python3 "$ANCHORS/quiet.py" 2>/dev/null || sleep 5; }

start_sim() {
  env "${merchant[@]}" "$BIN/examdesk" simulator --bind "$SIM" >"$OUT/sim.log" 2>&1 &
  SIM_PID=$!
  sleep 0.5
}

# start_app NAME [extra env…]: a fresh SQLite database in its own folder, WeChat = the simulator.
start_app() {
  local name=$1; shift
  rm -rf "$OUT/$name" && mkdir -p "$OUT/$name"
  DB="sqlite://$OUT/$name/examdesk.db"
  pushd "$OUT/$name" >/dev/null
  env "${merchant[@]}" EXAMDESK_BIND=$APP EXAMDESK_DATABASE_URL="$DB" \
     EXAMDESK_LOGIN_PER_MINUTE=0 EXAMDESK_UNPAID_HOLDS_PER_ADDRESS=0 EXAMDESK_JOB_INTERVAL_SECONDS=0 EXAMDESK_LOG=warn "$@" \
     "$BIN/examdesk" serve >"$OUT/$name/server.log" 2>&1 &
  APP_PID=$!
  popd >/dev/null
  for _ in $(seq 50); do curl -sf "http://$APP/healthz" >/dev/null && break; sleep 0.1; done
}

stop_app() { kill "$APP_PID" 2>/dev/null || true; wait "$APP_PID" 2>/dev/null || true; }

big_exam() {
  (cd "$OUT/$1" && EXAMDESK_DATABASE_URL="$DB" "$BIN/examdesk" exam create --code "P$(echo "$1" | tr -cd "A-Za-z0-9")" --title "2026年性能测试考试" \
     --fee-fen 5000 --capacity 98901 --opens 2026-01-01T00:00:00Z --closes 2030-01-01T00:00:00Z \
     --starts 2030-01-02T00:00:00Z)
}

start_sim
trap 'kill $SIM_PID 2>/dev/null || true; stop_app' EXIT

if [ "${ONLY:-}" != pg ]; then
for durability in FULL NORMAL; do
  quiet
  start_app "storm-$durability" EXAMDESK_SQLITE_SYNCHRONOUS=$durability
  exam=$(big_exam "storm-$durability")
  "$BIN/loadgen" notify-storm --url "http://$APP" --database-url "$DB" --orders "$ORDERS" --concurrency 64 \
    --exam-id "$exam" --server-pid "$APP_PID" --max-seconds 600 --json "$OUT/storm-$durability.json" \
    | tee "$OUT/storm-$durability.txt"
  stop_app
  quiet
  (cd "$ANCHORS" && notify_baseline/run.sh sync --sync "$durability" --repeat 1) | tee "$OUT/baseline-sync-$durability.txt"
done

quiet
start_app burst
"$BIN/loadgen" registration-burst --url "http://$APP" --database-url "$DB" --candidates 10000 --capacity 1000 \
  --server-pid "$APP_PID" --max-seconds 600 --json "$OUT/burst.json" | tee "$OUT/burst.txt"
stop_app

quiet
start_app tickets
exam=$(big_exam tickets)
"$BIN/loadgen" ticket-downloads --url "http://$APP" --database-url "$DB" --candidates 500 --exam-id "$exam" \
  --server-pid "$APP_PID" --max-seconds 600 --json "$OUT/tickets.json" | tee "$OUT/tickets.txt"
stop_app
fi

# With PG=postgres://…: PostgreSQL as a column of its own (synchronous commit, its default): the
# storm, the burst and the ticket downloads on one instance, the storm again on two instances
# sharing it, and the whole opening ($OPENING candidates) over two instances. A fresh database each.
# start_pg NAME PORT: an instance on database examdesk_perf_NAME (created afresh on the first call).
start_pg() {
  local name=$1 port=$2
  DB="$PG/examdesk_perf_$name"
  mkdir -p "$OUT/pg-$name"
  env "${merchant[@]}" EXAMDESK_BIND=127.0.0.1:$port EXAMDESK_DATABASE_URL="$DB" EXAMDESK_LOGIN_PER_MINUTE=0 \
    EXAMDESK_UNPAID_HOLDS_PER_ADDRESS=0 EXAMDESK_JOB_INTERVAL_SECONDS=0 EXAMDESK_LOG=warn \
    EXAMDESK_SECRET=compare-sh-instances-share-this-secret-0123 \
    EXAMDESK_DATA_DIR="$OUT/pg-$name/data-$port" "$BIN/examdesk" serve >"$OUT/pg-$name/server-$port.log" 2>&1 &
  PG_PIDS+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
}
fresh_pg() {
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS examdesk_perf_$1" -c "CREATE DATABASE examdesk_perf_$1"
  rm -rf "$OUT/pg-$1"
  PG_PIDS=()
}
stop_pg() { kill "${PG_PIDS[@]}" 2>/dev/null || true; wait "${PG_PIDS[@]}" 2>/dev/null || true; PG_PIDS=(); }
pg_exam() {
  EXAMDESK_DATABASE_URL="$DB" "$BIN/examdesk" exam create --code "$1" --title "2026年性能测试考试" \
    --fee-fen 5000 --capacity "$2" --opens 2026-01-01T00:00:00Z --closes 2030-01-01T00:00:00Z \
    --starts 2030-01-02T00:00:00Z
}
# One exam seats at most 99 rooms × 999 seats: the opening fills the largest exam there is.
OPENING="${OPENING:-98901}"
if [ -n "${PG:-}" ]; then
  trap 'kill $SIM_PID 2>/dev/null || true; stop_app; stop_pg' EXIT
  quiet; fresh_pg storm; start_pg storm 18081
  exam=$(pg_exam PGSTORM 98901)
  "$BIN/loadgen" notify-storm --url http://127.0.0.1:18081 --database-url "$DB" --orders "$ORDERS" --concurrency 64 \
    --exam-id "$exam" --server-pid "${PG_PIDS[0]}" --max-seconds 600 --json "$OUT/pg-storm.json" | tee "$OUT/pg-storm.txt"
  stop_pg

  quiet; fresh_pg storm2; start_pg storm2 18081; start_pg storm2 18082
  exam=$(pg_exam PGSTORM2 98901)
  "$BIN/loadgen" notify-storm --url http://127.0.0.1:18081 --also-url http://127.0.0.1:18082 --database-url "$DB" \
    --orders "$ORDERS" --concurrency 64 --exam-id "$exam" --server-pid "${PG_PIDS[0]}" --server-pid "${PG_PIDS[1]}" \
    --max-seconds 600 --json "$OUT/pg-storm2.json" | tee "$OUT/pg-storm2.txt"
  stop_pg

  quiet; fresh_pg burst; start_pg burst 18081
  "$BIN/loadgen" registration-burst --url http://127.0.0.1:18081 --database-url "$DB" --candidates 10000 --capacity 1000 \
    --server-pid "${PG_PIDS[0]}" --max-seconds 600 --json "$OUT/pg-burst.json" | tee "$OUT/pg-burst.txt"
  stop_pg

  quiet; fresh_pg tickets; start_pg tickets 18081
  exam=$(pg_exam PGTICKETS 98901)
  "$BIN/loadgen" ticket-downloads --url http://127.0.0.1:18081 --database-url "$DB" --candidates 500 --exam-id "$exam" \
    --server-pid "${PG_PIDS[0]}" --max-seconds 600 --json "$OUT/pg-tickets.json" | tee "$OUT/pg-tickets.txt"
  stop_pg

  quiet; fresh_pg opening; start_pg opening 18081; start_pg opening 18082
  exam=$(pg_exam PGOPEN "$OPENING")
  "$BIN/loadgen" opening --url http://127.0.0.1:18081 --also-url http://127.0.0.1:18082 --database-url "$DB" \
    --candidates "$OPENING" --exam-id "$exam" --server-pid "${PG_PIDS[0]}" --server-pid "${PG_PIDS[1]}" \
    --max-seconds 900 --json "$OUT/pg-opening.json" | tee "$OUT/pg-opening.txt"
  stop_pg
fi

quiet
"$BIN/ticketbench" | tee "$OUT/ticketbench.txt"
[ "${ONLY:-}" = pg ] && { echo "figures in $OUT"; exit 0; }
quiet
(cd "$ANCHORS" && COUNT=200 ticket_baseline/run.sh) | tee "$OUT/baseline-tickets.txt"
# examdesk's figures as ratios to the baseline's of this sitting.
python3 - "$OUT" <<'PY'
import json, re, sys
out = sys.argv[1]
def baseline_rps(sync):
    text = open(f"{out}/baseline-sync-{sync}.txt").read()
    m = re.search(rf"\|\s*gunicorn[^|]*\|\s*{sync}\s*\|\s*distinct\s*\|\s*([0-9.]+)", text)
    return float(m.group(1)) if m else None
def ticket_ms(path, pattern):
    m = re.search(pattern, open(path).read())
    return float(m.group(1)) if m else None
print("\nexamdesk / baseline, this sitting")
for sync in ("FULL", "NORMAL"):
    ours = json.load(open(f"{out}/storm-{sync}.json"))["timed"]["requests_per_second"]
    theirs = baseline_rps(sync)
    if theirs:
        print(f"  notifies/s, synchronous={sync}: {ours:,.0f} / {theirs:,.0f} = {ours / theirs:.1f}x")
ours = ticket_ms(f"{out}/ticketbench.txt", r"with photo: median ([0-9.]+) ms")
theirs = ticket_ms(f"{out}/baseline-tickets.txt", r"\| reportlab, pure Python \|[^|]*\|[^|]*\|\s*([0-9.]+)")
if ours and theirs:
    print(f"  one ticket, median ms: {ours} / {theirs} = {theirs / ours:.1f}x faster")
PY
echo "figures in $OUT"
