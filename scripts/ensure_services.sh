#!/usr/bin/env bash
# Make sure the PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) the integration
# tests use are up: start them with the machine's own binaries if they are down, then wait.
# Exits non-zero, saying which one, if either cannot be reached.
set -uo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_HOST=127.0.0.1 REDIS_PORT=6379

port_open() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

wait_for() {  # name host port
  for _ in $(seq 1 30); do
    port_open "$2" "$3" && { echo "ensure_services: $1 is up on $2:$3"; return 0; }
    sleep 1
  done
  echo "ensure_services: $1 is NOT reachable on $2:$3" >&2
  return 1
}

if ! port_open "$PG_HOST" "$PG_PORT"; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "ensure_services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  else
    echo "ensure_services: PostgreSQL is down and pg_ctlcluster is not available" >&2
  fi
fi

if ! port_open "$REDIS_HOST" "$REDIS_PORT"; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "ensure_services: starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no || true
  else
    echo "ensure_services: Redis is down and redis-server is not installed" >&2
  fi
fi

status=0
wait_for PostgreSQL "$PG_HOST" "$PG_PORT" || status=1
wait_for Redis "$REDIS_HOST" "$REDIS_PORT" || status=1
exit $status
