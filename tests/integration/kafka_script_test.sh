#!/usr/bin/env bash
# Integration test of scripts/kafka with a standard client (kcat) against the fixture's broker.
#
#   kafka_script_test.sh roundtrip SCRIPT DIR   100 keyed records to a fresh topic come back
#                                               exactly, keys stay on one partition in order;
#                                               `status` exits 0; a second `start` just
#                                               prints the same address.
#   kafka_script_test.sh restart SCRIPT DIR     `stop` then `start` on DIR keeps the address
#                                               and the records produced before; stop is
#                                               idempotent. Stops the shared broker: RUN_SERIAL.
#
# With SF_TEST_KAFKA_BOOTSTRAP set (a broker you started yourself) roundtrip uses that broker
# and leaves out the DIR checks; restart is skipped (exit 77), as there is no DIR to restart.
set -euo pipefail

mode=${1:?mode}
KAFKA=${2:?path to scripts/kafka}
DIR=${3:?fixture dir}

# shellcheck source=tests/support/script_test.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/script_test.sh"  # fail

external=0
if [ -n "${SF_TEST_KAFKA_BOOTSTRAP:-}" ]; then
  external=1
  B=$SF_TEST_KAFKA_BOOTSTRAP
else
  [ -s "$DIR/bootstrap" ] || fail "no $DIR/bootstrap: the kafka fixture (kafka_broker_start) did not run"
  B=$(cat "$DIR/bootstrap")
fi
[[ "$B" =~ ^127\.0\.0\.1:[0-9]+$ ]] || [ $external -eq 1 ] || fail "bootstrap '$B' is not 127.0.0.1:PORT"

# A topic no other test (or earlier run) uses.
topic="sf_script_${mode}_$$_$(date +%s%N)"

create_topic() {
  "$KAFKA" run-class org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" \
    --create --topic "$1" --partitions 3 --replication-factor 1 >/dev/null ||
    fail "could not create topic $1"
}

# Produces records N..M as key k<i % 7> value v<i> (one kcat run, acks=all; kcat exits non-zero
# when a delivery fails).
produce() {
  local from=$1 to=$2 i
  for ((i = from; i <= to; i++)); do echo "k$((i % 7)):v$i"; done |
    timeout 60 kcat -P -b "$B" -t "$topic" -K: -X acks=all -X message.timeout.ms=30000 ||
    fail "producing v$from..v$to to $topic failed"
}

# Every record of the topic as "partition key value", read from the beginning to the end.
consume() {
  timeout 60 kcat -C -b "$B" -t "$topic" -o beginning -e -q -f '%p %k %s\n' ||
    fail "consuming $topic failed"
}

# The consumed records must be exactly v$1..v$2 with their keys, each key on one partition
# and in produced order there.
check_records() {
  local from=$1 to=$2 got expected i
  got=$(consume)
  expected=$(for ((i = from; i <= to; i++)); do echo "k$((i % 7)) v$i"; done | sort)
  diff <(echo "$expected") <(awk '{print $2, $3}' <<<"$got" | sort) ||
    fail "records of $topic differ from v$from..v$to (diff above: < expected, > got)"
  awk '{ if (($2 in part) && part[$2] != $1) { print "key " $2 " on partitions " part[$2] " and " $1; bad = 1 }
         part[$2] = $1; n = substr($3, 2) + 0
         if (($2 in last) && n <= last[$2]) { print "key " $2 ": v" n " after v" last[$2]; bad = 1 }
         last[$2] = n }
       END { exit bad }' <<<"$got" || fail "keyed order broken in $topic"
}

case $mode in
roundtrip)
  create_topic "$topic"
  produce 1 100
  check_records 1 100
  echo "ok: 100 keyed records through $topic on $B"
  if [ $external -eq 0 ]; then
    status=$("$KAFKA" status --dir "$DIR") || fail "status exited $? ('$status') while the broker runs"
    grep -qF "running $B " <<<"$status " || fail "status says '$status', expected running $B"
    again=$("$KAFKA" start --dir "$DIR" 2>/dev/null | tail -n1)
    [ "$again" = "$B" ] || fail "start on the running broker printed '$again', expected $B"
    [ "$(cat "$DIR/bootstrap")" = "$B" ] || fail "DIR/bootstrap changed"
    echo "ok: status '$status'; start again prints $again"
  fi
  ;;
restart)
  [ $external -eq 0 ] || {
    echo "skipped: the broker comes from SF_TEST_KAFKA_BOOTSTRAP, no DIR to restart"
    exit 77
  }
  create_topic "$topic"
  produce 1 50
  "$KAFKA" stop --dir "$DIR" || fail "stop failed"
  if "$KAFKA" status --dir "$DIR" >/dev/null; then fail "status exits 0 after stop"; fi
  [ ! -e "$DIR/kafka.pid" ] || fail "stop left $DIR/kafka.pid"
  if (: <"/dev/tcp/${B%:*}/${B#*:}") 2>/dev/null; then fail "something still listens on $B after stop"; fi
  "$KAFKA" stop --dir "$DIR" || fail "a second stop (nothing running) failed"
  addr=$("$KAFKA" start --dir "$DIR" | tail -n1) || fail "start after stop failed"
  [ "$addr" = "$B" ] || fail "the address changed over a restart: $B then $addr"
  [ "$(cat "$DIR/bootstrap")" = "$B" ] || fail "DIR/bootstrap changed over a restart"
  check_records 1 50
  produce 51 60
  check_records 1 60
  echo "ok: $B kept its address and the 50 records of $topic over stop/start"
  ;;
*) fail "unknown mode $mode" ;;
esac
