#!/usr/bin/env bash
# testenv.sh CMD...: run CMD with a throwaway Postgres cluster and moto
# server, then tear both down. Exports what shared/testenv reads:
#   MAD_TEST_PG_URL        superuser URL of the cluster (tests create their own databases)
#   MAD_TEST_AWS_ENDPOINT  moto's URL
set -euo pipefail
source "$(dirname "$0")/lib.sh"

venv_ensure
state="$(mktemp -d /tmp/mad-test.XXXXXX)"
chmod 755 "$state"
pgport="$(free_port)"; motoport="$(free_port)"

cleanup() {
  pg_stop "$state/pg"
  moto_stop "$state/moto.log"
  rm -rf "$state"
}
trap cleanup EXIT INT TERM

t0=$(date +%s)
pg_start "$state/pg" "$pgport"
moto_start "$motoport" "$state/moto.log"
log "test services up in $(( $(date +%s) - t0 ))s: postgres 127.0.0.1:$pgport, moto 127.0.0.1:$motoport"

export MAD_TEST_PG_URL="postgres://postgres:postgres@127.0.0.1:$pgport/postgres?sslmode=disable"
export MAD_TEST_AWS_ENDPOINT="http://127.0.0.1:$motoport"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
"$@"
