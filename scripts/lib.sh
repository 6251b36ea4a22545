#!/usr/bin/env bash
# Shared shell helpers for the local stack and the test harness: find or
# install tools, start a throwaway Postgres cluster and moto server.
# Sourced, not executed.

MAD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export MAD_ROOT

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# pg_bin prints the directory holding initdb and pg_ctl.
pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  if command -v pg_ctl >/dev/null 2>&1; then dirname "$(command -v pg_ctl)"; return 0; fi
  return 1
}

# pg_user prints the OS user that runs Postgres. Postgres refuses to run as
# root, so under root a system user is used (created when missing).
pg_user() {
  if [ "$(id -u)" != 0 ]; then id -un; return; fi
  if id postgres >/dev/null 2>&1; then echo postgres; return; fi
  useradd --system --no-create-home --shell /usr/sbin/nologin madpg >/dev/null 2>&1 || true
  echo madpg
}

as_pg() {
  local u; u="$(pg_user)"
  if [ "$(id -u)" = 0 ]; then runuser -u "$u" -- "$@"; else "$@"; fi
}

# pg_start DATADIR PORT: initialize (first time) and start a cluster that
# listens on 127.0.0.1:PORT only, superuser "postgres" with password
# "postgres" (loopback-only throwaway cluster).
pg_start() {
  local dir="$1" port="$2" bin u
  bin="$(pg_bin)" || { log "Postgres binaries not found (apt-get install postgresql)"; return 1; }
  u="$(pg_user)"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown "$u" "$dir"; chmod 700 "$dir"; fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    local pw; pw="$(mktemp)"; echo postgres > "$pw"; chmod 644 "$pw"
    as_pg "$bin/initdb" -D "$dir" -U postgres --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 || { cat "$dir.initdb.log" >&2; rm -f "$pw"; return 1; }
    rm -f "$pw"
  fi
  as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$dir' -c fsync=off -c max_connections=300" \
    start >/dev/null || { tail -20 "$dir/server.log" >&2; return 1; }
}

pg_stop() {
  local dir="$1" bin
  bin="$(pg_bin)" || return 0
  [ -f "$dir/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
}

# venv_ensure creates .venv with the pinned Python tools.
venv_ensure() {
  local v="$MAD_ROOT/.venv"
  if [ ! -x "$v/bin/moto_server" ] || ! cmp -s "$MAD_ROOT/scripts/requirements.txt" "$v/.requirements.txt"; then
    log "installing Python tools into .venv (moto, cfn-lint)"
    python3 -m venv "$v"
    "$v/bin/pip" install -q -r "$MAD_ROOT/scripts/requirements.txt"
    cp "$MAD_ROOT/scripts/requirements.txt" "$v/.requirements.txt"
  fi
}

# moto_start PORT LOGFILE: start moto server on 127.0.0.1:PORT, wait until it answers.
# It runs scripts/devstack/internal/moto/moto_local.py when present: moto_server
# with Secrets Manager rotation behaving as in AWS (the local stack runs the same).
moto_start() {
  local port="$1" logf="$2" i
  local server=("$MAD_ROOT/.venv/bin/moto_server")
  if [ -f "$MAD_ROOT/scripts/devstack/internal/moto/moto_local.py" ]; then
    server=("$MAD_ROOT/.venv/bin/python" "$MAD_ROOT/scripts/devstack/internal/moto/moto_local.py")
  fi
  "${server[@]}" -H 127.0.0.1 -p "$port" >"$logf" 2>&1 &
  echo $! > "$logf.pid"
  for i in $(seq 1 100); do
    if curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  log "moto did not start"; tail -20 "$logf" >&2; return 1
}

moto_stop() {
  local logf="$1"
  [ -f "$logf.pid" ] && kill "$(cat "$logf.pid")" 2>/dev/null || true
}
