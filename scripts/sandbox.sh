#!/usr/bin/env bash
# sandbox.sh — a private MariaDB primary + replica pair on loopback, for tests and the demo.
#
#   scripts/sandbox.sh up       start (installing mariadb-server with apt if mariadbd is missing)
#   scripts/sandbox.sh down     stop the two servers this script started (nothing else)
#   scripts/sandbox.sh status   say whether they run
#   scripts/sandbox.sh env      print the connection settings as shell assignments
#   scripts/sandbox.sh destroy  stop and delete the data directory
#
# Settings (environment):
#   GG_SANDBOX_DIR   data directory   (default: /tmp/ghostgate-sandbox)
#   GG_SANDBOX_PORT  primary port; the replica listens on PORT+1 (default: 13306)
#   GG_SANDBOX_PERFORMANCE_SCHEMA  ON (default) or OFF, for tests of servers without it
#
# The servers run with ROW binlogs, a full row image, log-slave-updates and classic
# position-based replication, and have a user with every privilege gh-ost needs. Binlogs rotate at
# 256 MB and those older than an hour are purged at a rotation (a sandbox that stayed up across
# many suites once filled the disk with them), never when a server starts: a pair left down for
# days resumes replicating. `up` is idempotent: a running pair is left alone, a stopped one is
# restarted from its data (about a second), a missing one is created, and one whose replica cannot
# resume (error 1236) is rebuilt, saying so. It writes $GG_SANDBOX_DIR/env, which tests and the
# demo read.
set -euo pipefail

DIR=${GG_SANDBOX_DIR:-/tmp/ghostgate-sandbox}
PORT=${GG_SANDBOX_PORT:-13306}
RPORT=$((PORT + 1))
USER_NAME=ghostgate
USER_PASS=ghostgate
# Both servers run as the invoking user: as root mariadbd refuses to start without --user.
RUN_AS=$(id -un)
# Bumped whenever start_node's server options change: `up` restarts a running pair whose
# settings are older. performance_schema is static (a restart), and gh-ost v1.1.10's cut-over is
# only race-free on MariaDB with it on (its metadata-lock check, gh-ost PR #1536).
PERFORMANCE_SCHEMA=${GG_SANDBOX_PERFORMANCE_SCHEMA:-ON}
case "$PERFORMANCE_SCHEMA" in ON|OFF) ;; *) echo "sandbox: GG_SANDBOX_PERFORMANCE_SCHEMA must be ON or OFF" >&2; exit 2 ;; esac
SETTINGS=4-performance-schema-${PERFORMANCE_SCHEMA,,} # lower case, as the stamp always was
EXPIRE_SECONDS=3600

log() { printf 'sandbox: %s\n' "$*" >&2; }
die() { printf 'sandbox: error: %s\n' "$*" >&2; exit 1; }

ensure_installed() {
  if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then return; fi
  command -v apt-get >/dev/null 2>&1 || die "mariadbd is not installed and apt-get is not available; install mariadb-server"
  log "mariadbd not found: installing mariadb-server with apt-get (once)"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  # policy-rc.d may deny starting the system service; we never use it anyway.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mariadb-server mariadb-client >&2
}

mariadbd_bin() { command -v mariadbd 2>/dev/null || echo /usr/sbin/mariadbd; }

# node NAME -> sets node-specific variables
node_vars() {
  NAME=$1
  if [ "$NAME" = primary ]; then NPORT=$PORT; SID=1; else NPORT=$RPORT; SID=2; fi
  NDIR=$DIR/$NAME
  SOCK=$NDIR/mysqld.sock
  PIDF=$NDIR/mysqld.pid
}

client() { # client NAME [args...]: run SQL on a node as root over its socket
  local name=$1; shift
  node_vars "$name"
  mariadb --no-defaults -uroot --socket="$SOCK" "$@"
}

alive() { # alive NAME: the server we started answers
  node_vars "$1"
  [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null &&
    mariadb-admin --no-defaults -uroot --socket="$SOCK" ping >/dev/null 2>&1
}

init_node() {
  node_vars "$1"
  mkdir -p "$NDIR/data" "$NDIR/tmp"
  # Each instance gets its own tmpdir: two install-db runs sharing /tmp collide on temporary
  # table names ("Unknown table 'mysql.tmp_user_sys'").
  mariadb-install-db --no-defaults --datadir="$NDIR/data" --user="$RUN_AS" \
    --auth-root-authentication-method=socket --skip-test-db \
    --tmpdir="$NDIR/tmp" >"$NDIR/install.log" 2>&1 || {
      cat "$NDIR/install.log" >&2; die "mariadb-install-db failed for $NAME"; }
}

start_node() {
  node_vars "$1"
  "$(mariadbd_bin)" --no-defaults --user="$RUN_AS" --datadir="$NDIR/data" --tmpdir="$NDIR/tmp" \
    --port="$NPORT" --bind-address=127.0.0.1 --socket="$SOCK" --pid-file="$PIDF" \
    --log-error="$NDIR/error.log" --server-id="$SID" \
    --log-bin="$NDIR/data/binlog" --binlog-format=ROW --binlog-row-image=FULL --log-slave-updates \
    --max-binlog-size=256M --binlog-expire-logs-seconds=0 \
    --relay-log="$NDIR/data/relay" --report-host=127.0.0.1 --report-port="$NPORT" \
    --skip-name-resolve --innodb-buffer-pool-size=256M --innodb-log-file-size=256M \
    --innodb-flush-log-at-trx-commit=2 --sync-binlog=0 --max-connections=500 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --performance-schema="$PERFORMANCE_SCHEMA" --skip-log-bin-trust-function-creators --userstat=1 >/dev/null 2>&1 9>&- &
  echo "$SETTINGS" >"$NDIR/settings"
  local i
  for i in $(seq 1 300); do
    if alive "$1"; then return; fi
    sleep 0.1
  done
  tail -20 "$NDIR/error.log" >&2 || true
  die "$NAME did not start on 127.0.0.1:$NPORT (log: $NDIR/error.log)"
}

stop_node() {
  node_vars "$1"
  [ -f "$PIDF" ] || return 0
  local pid; pid=$(cat "$PIDF")
  # Only a process whose command line names our data directory is ours to stop.
  if kill -0 "$pid" 2>/dev/null && grep -qa -- "$NDIR/data" "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid"
    local i
    for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$PIDF"
}

create_users() {
  # Created on each node with sql_log_bin=0, before replication starts, so the replica never
  # replays them. gh-ost needs SUPER/REPLICATION rights and ALL on the schemas it migrates.
  local name
  for name in primary replica; do
    client "$name" <<SQL
SET SESSION sql_log_bin = 0;
CREATE USER IF NOT EXISTS '$USER_NAME'@'127.0.0.1' IDENTIFIED BY '$USER_PASS';
CREATE USER IF NOT EXISTS '$USER_NAME'@'localhost' IDENTIFIED BY '$USER_PASS';
GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  done
}

start_replication() {
  local file pos
  read -r file pos < <(client primary -N -e "SHOW MASTER STATUS" | awk '{print $1, $2}')
  [ -n "$file" ] || die "primary has no binlog position"
  client replica <<SQL
STOP SLAVE;
CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$PORT, MASTER_USER='$USER_NAME',
  MASTER_PASSWORD='$USER_PASS', MASTER_LOG_FILE='$file', MASTER_LOG_POS=$pos,
  MASTER_USE_GTID=no, MASTER_CONNECT_RETRY=1;
START SLAVE;
SQL
}

# wait_replication: 0 once both replica threads run; 1 (status printed) if they did not within
# ten seconds. IO_ERRNO is left set to the replica's Last_IO_Errno.
wait_replication() {
  local i io sql
  IO_ERRNO=0
  for i in $(seq 1 100); do
    read -r io sql IO_ERRNO < <(client replica -e "SHOW SLAVE STATUS\G" |
      awk '/ Slave_IO_Running:/{io=$2} / Slave_SQL_Running:/{sql=$2} / Last_IO_Errno:/{e=$2}
           END{print io, sql, e+0}')
    if [ "$io" = Yes ] && [ "$sql" = Yes ]; then return 0; fi
    # 1236: the primary no longer has the binlog the replica stopped in. Waiting will not help.
    [ "$IO_ERRNO" = 1236 ] && break
    sleep 0.1
  done
  client replica -e "SHOW SLAVE STATUS\G" >&2 || true
  return 1
}

# enable_expiry: binlogs older than an hour are purged, but only from now on. A server purges
# expired binlogs when it starts; with the expiry set at startup, a pair that had been down for
# over an hour lost the binlog its replica had stopped in, and the replica could never resume
# (error 1236, "Could not find first log file name in binary log index file"). So the servers
# start with no expiry and get it here, once the replica reads the primary's current binlog: a
# later purge happens at rotation, and a server keeps the binlog a connected replica is reading.
enable_expiry() {
  local name
  for name in primary replica; do
    client "$name" -e "SET GLOBAL binlog_expire_logs_seconds = $EXPIRE_SECONDS"
  done
}

write_env() {
  # Shell-quoted: `eval "$(scripts/sandbox.sh env | sed 's/^/export /')"` must work.
  cat >"$DIR/env" <<ENV
GG_PRIMARY_HOST=127.0.0.1
GG_PRIMARY_PORT=$PORT
GG_REPLICA_HOST=127.0.0.1
GG_REPLICA_PORT=$RPORT
GG_USER=$USER_NAME
GG_PASSWORD=$USER_PASS
GG_PRIMARY_DSN='$USER_NAME:$USER_PASS@tcp(127.0.0.1:$PORT)/'
GG_REPLICA_DSN='$USER_NAME:$USER_PASS@tcp(127.0.0.1:$RPORT)/'
ENV
}

cmd_up() {
  ensure_installed
  mkdir -p "$DIR"
  if [ ! -d "$DIR/primary/data/mysql" ] || [ ! -d "$DIR/replica/data/mysql" ] || [ ! -f "$DIR/.ready" ]; then
    create_pair
    return
  fi
  start_pair
  if ! wait_replication; then
    [ "$IO_ERRNO" = 1236 ] || die "replication did not start"
    # The replica missed events it can no longer get: it is no copy of the primary any more, and
    # only a new pair is. The sandbox holds test data only; say so loudly and rebuild it.
    log "the replica cannot resume: the primary no longer has the binlog it stopped in (error 1236)"
    log "recreating the sandbox in $DIR (its databases are lost; they were test data)"
    create_pair
    return
  fi
  finish_up
}

create_pair() {
  stop_node primary; stop_node replica
  rm -rf "$DIR/primary" "$DIR/replica" "$DIR/.ready"
  log "creating a new primary and replica in $DIR"
  init_node primary & local p1=$!
  init_node replica & local p2=$!
  wait $p1; wait $p2
  start_pair
  create_users
  start_replication
  touch "$DIR/.ready"
  wait_replication || die "replication did not start"
  finish_up
}

start_pair() {
  local name
  for name in primary replica; do
    node_vars "$name"
    if alive "$name" && [ "$(cat "$NDIR/settings" 2>/dev/null)" != "$SETTINGS" ]; then
      log "restarting $name: it runs with older settings"
      stop_node "$name"
    fi
  done
  alive primary || start_node primary
  alive replica || start_node replica
}

finish_up() {
  enable_expiry
  write_env
  log "primary 127.0.0.1:$PORT, replica 127.0.0.1:$RPORT (user $USER_NAME/$USER_PASS); settings in $DIR/env"
  log "connect: mariadb -h127.0.0.1 -P$PORT -u$USER_NAME -p$USER_PASS"
}

cmd_down() {
  stop_node replica
  stop_node primary
  log "stopped (data kept in $DIR)"
}

cmd_status() {
  local name rc=0
  for name in primary replica; do
    node_vars "$name"
    if alive "$name"; then echo "$name: running on 127.0.0.1:$NPORT"; else echo "$name: stopped"; rc=3; fi
  done
  return $rc
}

main() {
  local cmd=${1:-up}
  mkdir -p "$DIR"
  # One invocation at a time per data directory (go test runs packages in parallel).
  exec 9>"$DIR.lock"
  flock 9
  case "$cmd" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) [ -f "$DIR/env" ] || die "no sandbox in $DIR: run '$0 up' first"; cat "$DIR/env" ;;
    destroy) cmd_down; rm -rf "$DIR"; log "removed $DIR" ;;
    -h|--help|help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" ;; # the header, whole
    *) die "unknown command '$cmd' (up, down, status, env, destroy)" ;;
  esac
}

main "$@"
