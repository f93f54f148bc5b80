#!/usr/bin/env bash
# Installs what tests, the demo and the benchmark need on a fresh Debian
# machine: ClickHouse server and client. Go modules come from the module proxy
# through the go command itself. Safe to run again: it installs only what is
# missing.
set -euo pipefail

have_clickhouse() {
  command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ] || command -v clickhouse >/dev/null 2>&1
}

if ! have_clickhouse; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "deps: installing clickhouse-server and clickhouse-client (apt)" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d keeps apt from starting a system-wide server: tests start their own.
  $SUDO apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
fi
have_clickhouse || { echo "deps: clickhouse-server is still missing after apt-get install" >&2; exit 1; }
echo "deps: clickhouse $(clickhouse-client --version 2>/dev/null | head -1)" >&2
