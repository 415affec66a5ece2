#!/usr/bin/env bash
# demo.sh — what `make demo` runs: a seeded sample shop on the local sandbox, and the plans
# ghostgate makes for a handful of typical changes to it (one of each strategy, and changes that
# the linter blocks). Nothing is altered: planning only asks the server, on empty clones.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/migrate}
[ -x "$BIN" ] || { echo "demo: $BIN missing: run 'make build'" >&2; exit 1; }
eval "$(scripts/sandbox.sh env | sed 's/^/export /')"
DB=ghostgate_demo
SQL=(mariadb -h"$GG_PRIMARY_HOST" -P"$GG_PRIMARY_PORT" -u"$GG_USER" -p"$GG_PASSWORD")

echo "== Seeding $DB on the sandbox primary (127.0.0.1:$GG_PRIMARY_PORT)"
"${SQL[@]}" -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
"${SQL[@]}" "$DB" < examples/demo/schema.sql
"${SQL[@]}" "$DB" < examples/demo/seed.sql >/dev/null
"${SQL[@]}" -N "$DB" -e "SELECT CONCAT('   orders: ', COUNT(*), ' rows') FROM orders"

export GHOSTGATE_PASSWORD=$GG_PASSWORD
for f in examples/demo/changes/*.sql; do
  echo
  echo "== migrate plan --file $f"
  grep '^--' "$f" | sed 's/^-- \{0,1\}/   /'
  echo
  set +e
  "$BIN" plan -H "$GG_PRIMARY_HOST" -P "$GG_PRIMARY_PORT" -u "$GG_USER" -d "$DB" --file "$f"
  rc=$?
  set -e
  case $rc in
    0) echo "   → exit 0: safe to run" ;;
    3) echo "   → exit 3: blocked by findings (CI would stop here)" ;;
    *) echo "   → exit $rc: error"; exit "$rc" ;;
  esac
done
echo
echo "== Done. The JSON form of any plan: $BIN plan --output json ... (see README)."
