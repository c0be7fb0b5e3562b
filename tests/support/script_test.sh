# Shared by the shell tests of scripts/ (sourced, not run): `fail MESSAGE` ends the test as
# failed, MESSAGE on stderr.
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
