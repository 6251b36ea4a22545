#!/usr/bin/env bash
# fuzz.sh [FUZZTIME] [REGEX]: run every Go fuzz target of the repository
# (or those whose name matches REGEX) for FUZZTIME each (default 60s; any
# -fuzztime value: 30s, 5m, 10000x), one at a time, and print a summary
# table. Exits non-zero if any target fails.
#
# Targets are discovered with `go test -list '^Fuzz' ./...`. Several need
# Postgres and moto, so the script runs itself under scripts/testenv.sh
# unless MAD_TEST_PG_URL is already set (as inside `make test`'s harness).
#
# A failing input is written by Go to <package>/testdata/fuzz/<Target>/
# and from then on runs as a seed under plain `go test` (and `make test`):
# keep it as the regression test of the bug it found.
#
# Environment: FUZZ_PARALLEL (fuzzing workers, default GOMAXPROCS),
# FUZZ_LOGDIR (default build/fuzz/<timestamp>: one log per target and
# summary.tsv).
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${1:-60s}"
filter="${2:-.}"

if [[ -z "${MAD_TEST_PG_URL:-}" ]]; then
  exec bash scripts/testenv.sh bash scripts/fuzz.sh "$fuzztime" "$filter"
fi

mod="$(go list -m)/"
logdir="${FUZZ_LOGDIR:-build/fuzz/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$logdir"

# The test binary's own deadline: the fuzzing time plus room for the
# build, the setup of each worker and minimization; none for -fuzztime Nx.
timeout=0
case "$fuzztime" in
  *[0-9]s) timeout="$(( ${fuzztime%s} + 900 ))s" ;;
  *[0-9]m) timeout="$(( ${fuzztime%m} * 60 + 900 ))s" ;;
  *[0-9]h) timeout="$(( ${fuzztime%h} * 3600 + 900 ))s" ;;
esac

echo "fuzz.sh: listing fuzz targets" >&2
list="$(go test -list '^Fuzz' ./... 2>&1)" || { echo "$list" >&2; echo "fuzz.sh: go test -list failed" >&2; exit 1; }
# Output: a package's target names, then "ok  <package>  <time>".
mapfile -t targets < <(awk -v re="$filter" '
  /^Fuzz/ { names[n++] = $1; next }
  /^ok[ \t]/ { for (i = 0; i < n; i++) if (names[i] ~ re) print $2 "\t" names[i]; n = 0; next }
  { n = 0 }' <<<"$list")
if (( ${#targets[@]} == 0 )); then
  echo "fuzz.sh: no fuzz target matches $filter" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, $fuzztime each; logs in $logdir" >&2

# seconds converts a Go duration as the fuzzer prints it (1h2m3s, 45s) to
# seconds.
seconds() {
  awk -v d="$1" 'BEGIN {
    s = 0
    while (match(d, /^[0-9.]+[hms]/)) {
      v = substr(d, 1, RLENGTH - 1); u = substr(d, RLENGTH, 1)
      s += v * (u == "h" ? 3600 : (u == "m" ? 60 : 1))
      d = substr(d, RLENGTH + 1)
    }
    print s
  }'
}

printf 'package\ttarget\texecs\texecs_per_sec\tresult\tdetail\n' >"$logdir/summary.tsv"
failed=0
for t in "${targets[@]}"; do
  pkg="${t%%$'\t'*}"; name="${t#*$'\t'}"
  log="$logdir/$name.log"
  echo "fuzz.sh: $name ($pkg)" >&2
  args=(-run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 200x -timeout "$timeout")
  [[ -n "${FUZZ_PARALLEL:-}" ]] && args+=(-parallel "$FUZZ_PARALLEL")
  set +e
  go test "${args[@]}" "$pkg" >"$log" 2>&1
  rc=$?
  set -e
  execs="-"; rate="-"; detail="-"
  last="$(grep -E '^fuzz: elapsed: [0-9hms.]+, execs: [0-9]+' "$log" | tail -n 1 || true)"
  if [[ -n "$last" ]]; then
    elapsed="$(sed -E 's/^fuzz: elapsed: ([0-9hms.]+),.*/\1/' <<<"$last")"
    execs="$(sed -E 's/.*, execs: ([0-9]+) .*/\1/' <<<"$last")"
    secs="$(seconds "$elapsed")"
    rate="$(awk -v e="$execs" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? e / s : 0) }')"
  fi
  if (( rc == 0 )); then
    result=PASS
  else
    result=FAIL; failed=$((failed + 1))
    detail="$(grep -oE 'Failing input written to [^ ]+' "$log" | head -n 1 | sed "s|Failing input written to |crasher: ${pkg#$mod}/|" || true)"
    if [[ -z "$detail" ]]; then
      detail="$(grep -oE 'failure while testing seed corpus entry: [^ ]+' "$log" | head -n 1 | sed 's/failure while testing seed corpus entry: /failing seed: /' || true)"
    fi
    # A stored crasher that still fails is a seed by now: name its file.
    if [[ "$detail" == "failing seed: "* && -f "${pkg#$mod}/testdata/fuzz/${detail#failing seed: }" ]]; then
      detail="crasher: ${pkg#$mod}/testdata/fuzz/${detail#failing seed: }"
    fi
    [[ -z "$detail" ]] && detail="see $log"
    echo "fuzz.sh: $name FAILED: $detail" >&2
    grep -E -m 3 -A 2 -e '--- FAIL|fuzz_test.go:[0-9]+:' "$log" | sed 's/^/    /' >&2 || true
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${pkg#$mod}" "$name" "$execs" "$rate" "$result" "$detail" >>"$logdir/summary.tsv"
done

echo
echo "fuzz results ($fuzztime per target, execs/sec = execs / elapsed of the last 'fuzz: elapsed' line; machine: $(nproc) CPUs, $(go env GOVERSION)):"
column -t -s $'\t' "$logdir/summary.tsv"
echo
if (( failed > 0 )); then
  echo "fuzz.sh: $failed of ${#targets[@]} targets FAILED (logs and summary in $logdir)" >&2
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets passed (logs and summary in $logdir)" >&2
