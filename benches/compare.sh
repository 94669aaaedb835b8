#!/usr/bin/env bash
# Side-by-side figures: examdesk (release) and a Python baseline of the same protocol (its folder in
# $ANCHORS, kept outside this repository),
# interleaved on one machine. Writes JSON and logs to $OUT (default /tmp/examdesk-perf).
#   cargo build --release -p examdesk -p loadgen
#   benches/compare.sh            # everything, about 10 minutes
#   PG=postgres://postgres@127.0.0.1:5432 benches/compare.sh   # and the storm and burst on PostgreSQL
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

# With PG=postgres://…: the notify storm and the burst again on a fresh PostgreSQL database (the
# database for several instances; synchronous commit, PostgreSQL's default).
if [ -n "${PG:-}" ]; then
  for scenario in storm burst; do
    quiet
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS examdesk_perf_$scenario" -c "CREATE DATABASE examdesk_perf_$scenario"
    rm -rf "$OUT/pg-$scenario" && mkdir -p "$OUT/pg-$scenario"
    DB="$PG/examdesk_perf_$scenario"
    env "${merchant[@]}" EXAMDESK_BIND=$APP EXAMDESK_DATABASE_URL="$DB" EXAMDESK_LOGIN_PER_MINUTE=0 EXAMDESK_UNPAID_HOLDS_PER_ADDRESS=0 \
      EXAMDESK_JOB_INTERVAL_SECONDS=0 EXAMDESK_LOG=warn "$BIN/examdesk" serve >"$OUT/pg-$scenario/server.log" 2>&1 &
    APP_PID=$!
    for _ in $(seq 50); do curl -sf "http://$APP/healthz" >/dev/null && break; sleep 0.1; done
    if [ "$scenario" = storm ]; then
      exam=$(EXAMDESK_DATABASE_URL="$DB" "$BIN/examdesk" exam create --code PGSTORM --title "2026年性能测试考试" \
        --fee-fen 5000 --capacity 98901 --opens 2026-01-01T00:00:00Z --closes 2030-01-01T00:00:00Z \
        --starts 2030-01-02T00:00:00Z)
      "$BIN/loadgen" notify-storm --url "http://$APP" --database-url "$DB" --orders "$ORDERS" --concurrency 64 \
        --exam-id "$exam" --server-pid "$APP_PID" --max-seconds 600 --json "$OUT/pg-storm.json" | tee "$OUT/pg-storm.txt"
    else
      "$BIN/loadgen" registration-burst --url "http://$APP" --database-url "$DB" --candidates 10000 --capacity 1000 \
        --server-pid "$APP_PID" --max-seconds 600 --json "$OUT/pg-burst.json" | tee "$OUT/pg-burst.txt"
    fi
    stop_app
  done
fi

quiet
"$BIN/ticketbench" | tee "$OUT/ticketbench.txt"
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
