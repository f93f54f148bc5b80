#!/usr/bin/env bash
# Installs what tests, the demo and the benchmark need on a fresh Debian
# machine: ClickHouse server and client, ZooKeeper, and versitygw (the S3 server of the
# test bed). Go modules come from the module proxy through the go command
# itself. Safe to run again: it installs only what is missing.
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

# ZooKeeper (and the Java runtime it needs): the cluster test runs a real
# two-shard ClickHouse cluster, whose Replicated tables and ON CLUSTER DDL
# need it (18.16 has no ClickHouse Keeper). internal/testenv starts its own.
if ! [ -f /usr/share/java/zookeeper.jar ] || ! command -v java >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "deps: installing zookeeper (apt)" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends zookeeper >/dev/null
fi
[ -f /usr/share/java/zookeeper.jar ] || { echo "deps: zookeeper is still missing after apt-get install" >&2; exit 1; }

# versitygw: the S3 server tests, the demo and the benchmark run (the
# lookup order is internal/testenv's: $VERSITYGW, PATH, $(go env GOPATH)/bin).
VERSITYGW_VERSION=v1.8.0
have_versitygw() {
  if [ -n "${VERSITYGW:-}" ]; then [ -x "$VERSITYGW" ] || command -v "$VERSITYGW" >/dev/null 2>&1; return; fi
  command -v versitygw >/dev/null 2>&1 || [ -x "$(go env GOPATH | cut -d: -f1)/bin/versitygw" ]
}
if ! have_versitygw; then
  echo "deps: building versitygw $VERSITYGW_VERSION (go install; this takes a few minutes the first time)" >&2
  GOFLAGS=-buildvcs=false go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
fi
have_versitygw || { echo "deps: versitygw is still missing after go install" >&2; exit 1; }
echo "deps: versitygw $(command -v versitygw 2>/dev/null || echo "$(go env GOPATH | cut -d: -f1)/bin/versitygw")" >&2
