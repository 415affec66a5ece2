#!/usr/bin/env bash
# ensure-tools.sh — install what the benchmarks compare against when it is missing:
# pt-online-schema-change (Debian package percona-toolkit). Idempotent; apt-get only.
set -euo pipefail
if command -v pt-online-schema-change >/dev/null 2>&1; then exit 0; fi
command -v apt-get >/dev/null 2>&1 || { echo "bench: pt-online-schema-change missing and no apt-get: install percona-toolkit" >&2; exit 1; }
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "bench: installing percona-toolkit with apt-get (once)" >&2
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq percona-toolkit >&2
command -v pt-online-schema-change >/dev/null
