#!/usr/bin/env bash
# e2e test of `make demo`'s script (scripts/demo) as a new user runs it: it must load the
# main job (exit 0, rows in every table it reports), end with the analytical flow's summary
# (a graph, a model against the baselines) and stop every process it started.
#
#   demo_test.sh REPO_DIR STREAMFORGE_BIN [live]
#
# With `live`, `scripts/demo live` (make demo-live): a few seconds of live trades and order
# book; the trade ids it stored are contiguous and the book's top was printed.
#
# Every process the demo starts inherits a marker variable with a value unique to this run;
# after the demo exits, any process still carrying it (found through /proc/PID/environ) is a
# process the demo left behind: the test names it, stops it (by pid: it is ours) and fails.
set -euo pipefail
REPO=${1:?repo dir}
BIN=${2:?streamforge binary}
MODE=${3:-}

work=$(mktemp -d)
tag="demo-test-$$-$RANDOM$RANDOM"
survivors() {
  local pid
  for env in /proc/[0-9]*/environ; do
    pid=${env#/proc/}; pid=${pid%/environ}
    [ "$pid" = "$$" ] && continue
    if tr '\0' '\n' 2>/dev/null <"$env" | grep -qx "SF_DEMO_TEST_TAG=$tag"; then
      echo "$pid"
    fi
  done
}
cleanup() {
  for p in $(survivors); do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

rc=0
SF_DEMO_TEST_TAG=$tag SF_DEMO_DATA_DIR="$work/data" SF_DEMO_BIN="$BIN" SF_DEMO_LIVE_S=4 \
  bash "$REPO/scripts/demo" $MODE >"$work/demo.out" 2>&1 </dev/null || rc=$?
cat "$work/demo.out"
[ "$rc" -eq 0 ] || { echo "FAIL: scripts/demo $MODE exited $rc" >&2; exit 1; }

if [ "$MODE" = live ]; then
  # The last line of progress shows a synced book; the ids stored are min..max, all of them.
  grep 'trades, last' "$work/demo.out" | tail -n1 | grep -q 'bid [0-9.]* / [0-9.]*   ask ' ||
    { echo "FAIL: no book top printed" >&2; exit 1; }
  ids=$(sed -n 's/^demo: trade ids stored: \([0-9]*\)\.\.\([0-9]*\) (\([0-9]*\) rows)$/\1 \2 \3/p' "$work/demo.out")
  read -r lo hi n <<<"$ids"
  [ -n "${n:-}" ] && [ "$n" -gt 0 ] && [ $((hi - lo + 1)) -eq "$n" ] ||
    { echo "FAIL: stored trade ids are not contiguous: '$ids'" >&2; exit 1; }
  [ "$(grep -c ' finished ' "$work/demo.out")" -eq 2 ] ||
    { echo "FAIL: the two live queues did not finish" >&2; exit 1; }
fi
if [ "$MODE" != live ]; then
# Every table the demo reports holds rows (1 day of 1m candles = 1440 rows a symbol).
for t in btcusdt_candles_1m ethusdt_candles_1m solusdt_candles_1m; do
  grep -Eq "^  $t +1440\$" "$work/demo.out" || { echo "FAIL: $t does not hold 1440 rows" >&2; exit 1; }
done
grep -Eq '^  btcusdt_agg_trades +[1-9][0-9]*$' "$work/demo.out" ||
  { echo "FAIL: btcusdt_agg_trades is empty" >&2; exit 1; }
# The analytical flow's summary: its graph and its model against the baselines.
grep -Eq '^demo: graph corr_1h_[0-9a-f]+: 473 snapshots of 10 nodes, [1-9][0-9]* edges' "$work/demo.out" ||
  { echo "FAIL: no graph summary" >&2; exit 1; }
grep -Eq '^demo: model of graph .*validation accuracy [01]\.[0-9]+ .*majority class .*last window.s sign .*artifacts models/' "$work/demo.out" ||
  { echo "FAIL: no model summary" >&2; exit 1; }
fi

# A process stopping on SIGTERM may need a moment after the script's `wait` returned.
left=""
for _ in $(seq 1 20); do
  left=$(survivors)
  [ -z "$left" ] && break
  sleep 0.1
done
if [ -n "$left" ]; then
  echo "FAIL: the demo left processes running:" >&2
  for p in $left; do echo "  $p $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null)" >&2; done
  exit 1
fi
echo "PASS: demo loaded every table and left no process behind"
