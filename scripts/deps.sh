#!/usr/bin/env bash
# Installs what tests, the demo and the benchmark need on a fresh Debian
# machine: ClickHouse server and client, ZooKeeper, versitygw (the S3 server of the
# test bed), Azurite (its Azure Blob server) and fake-gcs-server (its GCS server).
# Go modules come from the module proxy through the go command itself. Safe to run
# again: it installs only what is missing.
#
# chDB (ClickHouse 26.x as a library, for the 26.x test lane, internal/ch26)
# comes from npm into a cache outside the repo. `scripts/deps.sh --chdb-lib`
# only prints the path of its libchdb.so (fetching it when missing).
set -euo pipefail

CHDB_VERSION=26.7.3-stable.1
CHDB_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/seatline/chdb/$CHDB_VERSION"
CHDB_LIB="$CHDB_DIR/libchdb.so"
fetch_chdb() {
  [ -f "$CHDB_LIB" ] && return
  command -v npm >/dev/null 2>&1 || { echo "deps: npm is needed to fetch chDB (apt-get install npm)" >&2; exit 1; }
  echo "deps: fetching chDB $CHDB_VERSION (npm pack, ~180 MB, once)" >&2
  local tmp
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/seatline-chdb.XXXXXX")
  (cd "$tmp" && npm pack --silent "@chdb/lib-linux-x64-gnu@$CHDB_VERSION" >/dev/null && tar -xzf ./*.tgz)
  mkdir -p "$CHDB_DIR"
  # Moved into place last, so an interrupted fetch is fetched again.
  mv "$(find "$tmp/package" -name libchdb.so | head -1)" "$CHDB_LIB.partial" && mv "$CHDB_LIB.partial" "$CHDB_LIB"
  rm -rf "$tmp"
}
if [ "${1:-}" = "--chdb-lib" ]; then
  fetch_chdb
  echo "$CHDB_LIB"
  exit 0
fi

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

# Azurite: the Azure Blob server of the test bed, from npm into a cache
# outside the repo (internal/testenv looks there, or at $AZURITE).
AZURITE_VERSION=3.37.0
AZURITE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/seatline/azurite/$AZURITE_VERSION"
AZURITE_BIN="$AZURITE_DIR/node_modules/.bin/azurite-blob"
have_azurite() {
  if [ -n "${AZURITE:-}" ]; then [ -x "$AZURITE" ] || command -v "$AZURITE" >/dev/null 2>&1; return; fi
  [ -x "$AZURITE_BIN" ]
}
if ! have_azurite; then
  command -v npm >/dev/null 2>&1 || { echo "deps: npm is needed to install Azurite (apt-get install npm)" >&2; exit 1; }
  echo "deps: installing Azurite $AZURITE_VERSION (npm, ~90 s and 360 MB, once)" >&2
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/seatline-azurite.XXXXXX")
  chmod 755 "$tmp"
  npm install --silent --no-audit --no-fund --prefix "$tmp" "azurite@$AZURITE_VERSION" >/dev/null
  # Moved into place last, so an interrupted install is installed again.
  mkdir -p "$(dirname "$AZURITE_DIR")"
  rm -rf "$AZURITE_DIR" && mv "$tmp" "$AZURITE_DIR"
fi
have_azurite || { echo "deps: Azurite is still missing after npm install" >&2; exit 1; }
echo "deps: azurite ${AZURITE:-$AZURITE_BIN}" >&2

# fake-gcs-server: the GCS server of the test bed (internal/testenv's lookup:
# $FAKE_GCS_SERVER, PATH, $(go env GOPATH)/bin).
FAKE_GCS_VERSION=v1.56.1
have_fake_gcs() {
  if [ -n "${FAKE_GCS_SERVER:-}" ]; then [ -x "$FAKE_GCS_SERVER" ] || command -v "$FAKE_GCS_SERVER" >/dev/null 2>&1; return; fi
  command -v fake-gcs-server >/dev/null 2>&1 || [ -x "$(go env GOPATH | cut -d: -f1)/bin/fake-gcs-server" ]
}
if ! have_fake_gcs; then
  echo "deps: building fake-gcs-server $FAKE_GCS_VERSION (go install; about 3 minutes the first time)" >&2
  GOFLAGS=-buildvcs=false go install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION"
fi
have_fake_gcs || { echo "deps: fake-gcs-server is still missing after go install" >&2; exit 1; }
echo "deps: fake-gcs-server $(command -v fake-gcs-server 2>/dev/null || echo "$(go env GOPATH | cut -d: -f1)/bin/fake-gcs-server")" >&2

fetch_chdb
[ -f "$CHDB_LIB" ] || { echo "deps: $CHDB_LIB is still missing after npm pack" >&2; exit 1; }
echo "deps: chdb $CHDB_LIB" >&2
