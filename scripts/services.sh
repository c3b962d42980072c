#!/usr/bin/env bash
# The cluster backend's engines for development and CI, on loopback only, idempotently:
#
#   scripts/services.sh up       # install if missing, then start PostgreSQL and Milvus Lite
#   scripts/services.sh down     # stop both (their data stays)
#   scripts/services.sh status   # say what runs, exit 1 if something is down
#
# PostgreSQL: Debian's postgresql package, a cluster of its own named "rag" on 127.0.0.1:5433
# (role rag, password rag, database rag). Milvus: the milvus-lite package's server (the real
# C++ engine) on 127.0.0.1:19530, its data in $RAG_HOME/services/milvus. Those are the defaults of
# RAG_POSTGRES_URL and RAG_MILVUS_URI, so `RAG_BACKEND=cluster rag ingest …` needs no other setting.
# Environment: RAG_PG_PORT (5433), RAG_MILVUS_PORT (19530), RAG_HOME (~/.cache/rag).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PG_VERSION=15
PG_CLUSTER=rag
PG_PORT=${RAG_PG_PORT:-5433}
MILVUS_PORT=${RAG_MILVUS_PORT:-19530}
RAG_HOME=${RAG_HOME:-$HOME/.cache/rag}
MILVUS_DIR=$RAG_HOME/services/milvus
log() { printf '\033[1m[services]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { as_root su postgres -s /bin/sh -c "$1"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {  # port, what, seconds
  for _ in $(seq 1 $(($3 * 5))); do port_open "$1" && return 0; sleep 0.2; done
  log "$2 did not start listening on 127.0.0.1:$1 within $3 s"; return 1
}

pg_up() {
  if ! command -v pg_createcluster >/dev/null || [ ! -x "/usr/lib/postgresql/$PG_VERSION/bin/postgres" ]; then
    log "installing PostgreSQL $PG_VERSION from Debian"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "postgresql-$PG_VERSION" >/dev/null
  fi
  if [ ! -d "/etc/postgresql/$PG_VERSION/$PG_CLUSTER" ]; then
    log "creating PostgreSQL cluster $PG_VERSION/$PG_CLUSTER on port $PG_PORT"
    as_root pg_createcluster "$PG_VERSION" "$PG_CLUSTER" -p "$PG_PORT" -- --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    as_root sh -c "echo \"listen_addresses = '127.0.0.1'\" >> /etc/postgresql/$PG_VERSION/$PG_CLUSTER/postgresql.conf"
  fi
  if ! as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" status >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start
  fi
  wait_port "$PG_PORT" PostgreSQL 30
  local psql="psql -p $PG_PORT -qtA"
  if [ "$(as_postgres "$psql -c \"SELECT 1 FROM pg_roles WHERE rolname = 'rag'\"")" != 1 ]; then
    as_postgres "$psql -c \"CREATE ROLE rag LOGIN SUPERUSER PASSWORD 'rag'\""
  fi
  if [ "$(as_postgres "$psql -c \"SELECT 1 FROM pg_database WHERE datname = 'rag'\"")" != 1 ]; then
    as_postgres "$psql -c 'CREATE DATABASE rag OWNER rag'"
  fi
}

pg_down() {
  if as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" status >/dev/null 2>&1; then
    log "stopping PostgreSQL"; as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop
  fi
}

milvus_bin() {
  "$ROOT/.venv/bin/python" -c 'import pathlib, milvus_lite; print(pathlib.Path(milvus_lite.__file__).parent / "lib")' 2>/dev/null
}

milvus_up() {
  if port_open "$MILVUS_PORT"; then return 0; fi
  local lib
  if ! lib=$(milvus_bin); then
    log "milvus-lite is not in .venv: run scripts/setup.sh first"; return 1
  fi
  mkdir -p "$MILVUS_DIR"
  log "starting Milvus Lite on 127.0.0.1:$MILVUS_PORT (data in $MILVUS_DIR)"
  # the server stops when its lock file is released; started this way it holds none and runs
  # until `down` (or the machine) stops it
  (cd "$MILVUS_DIR" && LD_LIBRARY_PATH="$lib" exec nohup "$lib/milvus" "$MILVUS_DIR/milvus.db" \
    "127.0.0.1:$MILVUS_PORT" ERROR) >"$MILVUS_DIR/milvus.log" 2>&1 </dev/null &
  wait_port "$MILVUS_PORT" Milvus 60 || { tail -20 "$MILVUS_DIR/milvus.log" >&2; return 1; }
}

milvus_down() {
  # by its data file: the pid that `up` saw may be the subshell that started it
  if pgrep -f "milvus $MILVUS_DIR/milvus.db" >/dev/null; then
    log "stopping Milvus Lite"; pkill -f "milvus $MILVUS_DIR/milvus.db"
    for _ in $(seq 1 50); do pgrep -f "milvus $MILVUS_DIR/milvus.db" >/dev/null || break; sleep 0.1; done
    pkill -9 -f "milvus $MILVUS_DIR/milvus.db" || true
  fi
  rm -f "$MILVUS_DIR/milvus.pid"
}

case "${1:-}" in
  up) pg_up; milvus_up; log "PostgreSQL on 127.0.0.1:$PG_PORT, Milvus on 127.0.0.1:$MILVUS_PORT" ;;
  down) milvus_down; pg_down ;;
  status)
    ok=0
    if port_open "$PG_PORT"; then log "PostgreSQL: up on $PG_PORT"; else log "PostgreSQL: down"; ok=1; fi
    if port_open "$MILVUS_PORT"; then log "Milvus: up on $MILVUS_PORT"; else log "Milvus: down"; ok=1; fi
    exit $ok ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
