#!/usr/bin/env bash
# scripts/arangodb-double with the real arangodb-double binary, as a user runs it:
#   arangodb_double_script_test.sh SCRIPT BIN DIR
# start prints the store URL last (also in DIR/url, mode 600), the double answers on it with
# the database 'streamforge' and the password; status; a second start is a no-op; stop and
# start again keep the URL (same port and password); stop is idempotent; --purge removes DIR.
set -euo pipefail

SCRIPT=${1:?path to scripts/arangodb-double}
BIN=${2:?path to the arangodb-double binary}
DIR=${3:?a folder for the double}

# shellcheck source=tests/support/script_test.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../support/script_test.sh"  # fail
cleanup() { "$SCRIPT" stop --purge --dir "$DIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup

out=$("$SCRIPT" start --dir "$DIR" --bin "$BIN")
url=$(tail -n 1 <<<"$out")
[[ "$url" =~ ^arangodb\+http://root:([A-Za-z0-9]+)@127\.0\.0\.1:([0-9]+)/streamforge$ ]] ||
  fail "unexpected URL line: $url"
pass=${BASH_REMATCH[1]}
port=${BASH_REMATCH[2]}
[ "$(cat "$DIR/url")" = "$url" ] || fail "DIR/url differs from the printed URL"
[ "$(stat -c %a "$DIR/url")" = 600 ] || fail "DIR/url is not mode 600"
[ "$(stat -c %a "$DIR/password")" = 600 ] || fail "DIR/password is not mode 600"
[ "$(cat "$DIR/password")" = "$pass" ] || fail "password file differs from the URL's"

body=$(curl -sf -u "root:$pass" "http://127.0.0.1:$port/_db/streamforge/_api/database/current") ||
  fail "GET database/current failed"
grep -q '"name":"streamforge"' <<<"$body" || fail "database streamforge missing: $body"
code=$(curl -s -o /dev/null -w '%{http_code}' -u "root:wrong" "http://127.0.0.1:$port/_api/version")
[ "$code" = 401 ] || fail "a wrong password got HTTP $code"

status=$("$SCRIPT" status --dir "$DIR") || fail "status exited non-zero while running"
grep -q "running (pid [0-9]*) on arangodb+http://root@127.0.0.1:$port/streamforge" <<<"$status" ||
  fail "status: $status"
grep -q "$pass" <<<"$status" && fail "status shows the password"
pid1=$(cat "$DIR/pid")

[ "$("$SCRIPT" start --dir "$DIR" --bin "$BIN" | tail -n 1)" = "$url" ] || fail "second start: another URL"
[ "$(cat "$DIR/pid")" = "$pid1" ] || fail "second start started another process"

"$SCRIPT" stop --dir "$DIR" 2>/dev/null
kill -0 "$pid1" 2>/dev/null && fail "pid $pid1 still runs after stop"
if "$SCRIPT" status --dir "$DIR" >/dev/null; then fail "status exits 0 after stop"; fi
"$SCRIPT" stop --dir "$DIR" 2>/dev/null || fail "second stop failed"

[ "$("$SCRIPT" start --dir "$DIR" --bin "$BIN" | tail -n 1)" = "$url" ] || fail "restart: another URL"
curl -sf -u "root:$pass" "http://127.0.0.1:$port/_api/version" >/dev/null || fail "no answer after restart"

"$SCRIPT" stop --purge --dir "$DIR" 2>/dev/null
[ ! -e "$DIR" ] || fail "--purge left $DIR"
echo "arangodb_double_script: 1 passed, 0 failed"
