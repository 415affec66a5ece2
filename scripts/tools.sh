#!/usr/bin/env bash
# tools.sh — installs, with apt-get, the command-line tools the tests use besides Go and MariaDB
# (scripts/sandbox.sh installs mariadb-server): jq, curl and openssl for the docs' examples
# (e2e/docs_test.go runs them), promtool (Debian's prometheus package) for the alert rules.
# Does nothing when they are all present.
set -euo pipefail

need=()
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ ${#need[@]} -eq 0 ] && exit 0

command -v apt-get >/dev/null 2>&1 || { echo "tools: missing ${need[*]} and apt-get is not available: install them" >&2; exit 1; }
echo "tools: installing ${need[*]} with apt-get (once)" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq >&2
# prometheus's package would start the server as a service: policy-rc.d may deny that, and the
# tests only need its promtool binary.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
