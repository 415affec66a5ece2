#!/usr/bin/env bash
# demo.sh — what `make demo` runs, on the local sandbox (scripts/sandbox.sh):
#
#   1. plans: a seeded sample shop and the plans ghostgate makes for typical changes to it (one of
#      each strategy, and changes the linter blocks). Nothing is altered.
#   2. live: the example service (two instances: one reached over HTTP, one by SIGUSR2) under a
#      steady load, `migrate serve`, and a change that goes through gh-ost and the cut-over gate.
#      On a terminal the TUI opens (approve the cut-over with `a`, quit with `q` once it is done);
#      without one, plain progress is printed and the cut-over is approved automatically.
#      Ends with a summary; cleans up after itself on exit, Ctrl-C included.
#
# DEMO_PART=plans|live|all (default all), DEMO_ROWS (default 300000), DEMO_RATE (requests/s, 100).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
for b in migrate shopsvc shopload; do
  [ -x "$BIN/$b" ] || { echo "demo: $BIN/$b missing: run 'make build'" >&2; exit 1; }
done
eval "$(scripts/sandbox.sh env | sed 's/^/export /')"
export GHOSTGATE_PASSWORD=$GG_PASSWORD
SQL=(mariadb -h"$GG_PRIMARY_HOST" -P"$GG_PRIMARY_PORT" -u"$GG_USER" -p"$GG_PASSWORD")
CONN=(-H "$GG_PRIMARY_HOST" -P "$GG_PRIMARY_PORT" -u "$GG_USER")
PART=${DEMO_PART:-all}
ROWS=${DEMO_ROWS:-300000}
RATE=${DEMO_RATE:-100}

plans() {
  local db=ghostgate_demo f rc
  echo "== Part 1: plans. Seeding $db on the sandbox primary (127.0.0.1:$GG_PRIMARY_PORT)"
  "${SQL[@]}" -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
  "${SQL[@]}" "$db" < examples/demo/schema.sql
  "${SQL[@]}" "$db" < examples/demo/seed.sql >/dev/null
  "${SQL[@]}" -N "$db" -e "SELECT CONCAT('   orders: ', COUNT(*), ' rows') FROM orders"
  for f in examples/demo/changes/*.sql; do
    echo
    echo "== migrate plan --file $f"
    grep '^--' "$f" | sed 's/^-- \{0,1\}/   /'
    echo
    set +e
    "$BIN/migrate" plan "${CONN[@]}" -d "$db" --file "$f"
    rc=$?
    set -e
    case $rc in
      0) echo "   → exit 0: safe to run" ;;
      3) echo "   → exit 3: blocked by findings (CI would stop here)" ;;
      *) echo "   → exit $rc: error"; exit "$rc" ;;
    esac
  done
}

# wait_port PORT: until something listens there (10 s).
wait_port() {
  local i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "demo: nothing listens on 127.0.0.1:$1" >&2
  return 1
}

# The processes the live part started and its scratch directory: global, for the EXIT trap.
PIDS=()
WORK=""
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -z "$WORK" ] || rm -rf "$WORK"
}

live() {
  local db=ghostgate_shop api_port=18470 work tty=0 approval=auto id
  [ -t 0 ] && [ -t 1 ] && tty=1
  [ $tty = 1 ] && approval=manual
  local port
  for port in $api_port 18081 18082; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "demo: port $port is in use (another demo still running?); stop it first" >&2
      return 1
    fi
  done
  work=$(mktemp -d /tmp/ghostgate-demo.XXXXXX)
  WORK=$work
  trap cleanup EXIT
  trap 'echo; echo "demo: interrupted, cleaning up"; exit 130' INT TERM HUP

  # An earlier demo that was killed may have left its migration marked active: clean it up
  # (migrate cleanup refuses while that run's controller is still alive).
  local left
  for left in $("$BIN/migrate" cleanup "${CONN[@]}" -d "$db" 2>/dev/null |
    sed -n 's/.*clean up with: migrate cleanup --migration \([0-9A-Z]*\).*/\1/p'); do
    echo "== cleaning up migration $left left by an earlier demo"
    "$BIN/migrate" cleanup "${CONN[@]}" --migration "$left" --yes >/dev/null
  done

  echo
  echo "== Part 2: live. Seeding $db.orders with $ROWS rows"
  "${SQL[@]}" -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
  "${SQL[@]}" "$db" < examples/shop/schema.sql
  "${SQL[@]}" "$db" -e "INSERT INTO orders (id, customer_id, status, amount, updated_at)
    SELECT seq, seq % 5000, ELT(1 + seq % 5, 'new', 'paid', 'shipped', 'delivered', 'cancelled'),
           (seq % 100000) / 100, NOW(6) FROM seq_1_to_$ROWS; ANALYZE TABLE orders" >/dev/null
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/token"
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/secret"
  local api="http://127.0.0.1:$api_port" client=(--server "http://127.0.0.1:$api_port" --token-file "$work/token")

  echo "== migrate serve on $api (cut-over approval: $approval; log $work/serve.log)"
  "$BIN/migrate" serve "${CONN[@]}" -d "$db" --replica "$GG_REPLICA_HOST:$GG_REPLICA_PORT" \
    --listen "127.0.0.1:$api_port" --token-file "$work/token" --participant-secret-file "$work/secret" \
    --approval "$approval" --work-dir "$work/w" >"$work/serve.log" 2>&1 &
  PIDS+=($!)
  wait_port "$api_port"

  echo "== two shopsvc instances (HTTP hook on :18081, SIGUSR2 on :18082) and shopload at $RATE requests/s"
  local dsn="$GG_USER:$GG_PASSWORD@tcp($GG_PRIMARY_HOST:$GG_PRIMARY_PORT)/$db"
  local mode
  for mode in http signal; do
    [ $mode = http ] && port=18081 || port=18082
    SHOPSVC_SECRET_FILE="$work/secret" "$BIN/shopsvc" --dsn "$dsn" --listen "127.0.0.1:$port" \
      --controller "$api" --mode $mode --instance-id "shop-$mode" --shed-writes=true \
      >"$work/shopsvc-$mode.log" 2>&1 &
    PIDS+=($!)
    wait_port $port
  done
  "$BIN/shopload" --target http://127.0.0.1:18081 --target http://127.0.0.1:18082 --rate "$RATE" \
    --dsn "$dsn" --summary "$work/load.json" >"$work/load.log" 2>&1 &
  local load=$!
  PIDS+=($load)
  sleep 2

  echo "== migrate submit --file examples/shop/migration.sql"
  grep '^--' examples/shop/migration.sql | sed 's/^-- \{0,1\}/   /'
  if ! id=$("$BIN/migrate" submit "${client[@]}" -d "$db" --old-version v1 --new-version v2 \
    --file examples/shop/migration.sql 2>"$work/submit.err" | cut -f1) || [ -z "$id" ]; then
    echo "demo: submit failed:" >&2; cat "$work/submit.err" >&2; return 1
  fi
  echo "   migration $id"
  local began=$SECONDS
  if [ $tty = 1 ]; then
    echo "== opening the TUI: watch the copy, then approve the cut-over with 'a' (and 'y'); 'q' quits"
    sleep 2
    "$BIN/migrate" tui "${client[@]}" "$id" || true
  fi
  # Without a terminal: plain progress until it ends. After the TUI: wait until it ends.
  set +e
  if [ $tty = 0 ]; then
    echo "== migrate status $id --watch (no terminal: plain text every 5 s)"
    "$BIN/migrate" status "${client[@]}" --watch --interval 5s "$id"
  else
    "$BIN/migrate" status "${client[@]}" --watch --interval 2s "$id" >/dev/null 2>&1
  fi
  local rc=$?
  set -e
  sleep 1
  kill -TERM "$load" 2>/dev/null || true
  wait "$load" 2>/dev/null || true

  echo
  echo "== Summary"
  "$BIN/migrate" status "${client[@]}" "$id" | sed -n '/^status/p;/recent events/,$p' | sed 's/^/   /'
  echo "   load during the run: $(cat "$work/load.log")"
  echo "   wall clock of the demo run: $((SECONDS - began)) s"
  [ $rc = 0 ] || { echo "demo: the migration did not complete (exit $rc)"; return $rc; }
}

case $PART in
  plans) plans ;;
  live) live ;;
  all) plans; live ;;
  *) echo "demo: DEMO_PART=$PART: want plans, live or all" >&2; exit 2 ;;
esac
