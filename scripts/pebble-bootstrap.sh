#!/usr/bin/env bash
# Makes Let's Encrypt's test ACME server (Debian's pebble) and openssl available for
# test/tls.test.ts, idempotently:
#  - does nothing when `pebble` (SHIPIT_PEBBLE, default: on PATH) and openssl exist;
#  - else installs what is missing with apt-get (as root, on Debian/Ubuntu).
# Never fails the run: without pebble the TLS test fails and names this script.
set -uo pipefail

PEBBLE="${SHIPIT_PEBBLE:-pebble}"
LOG="${TMPDIR:-/tmp}/shipit-apt-pebble.log"

say() { printf 'pebble-bootstrap: %s\n' "$*" >&2; }

missing=()
command -v "$PEBBLE" >/dev/null 2>&1 || missing+=(pebble)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ ${#missing[@]} = 0 ] && exit 0

if ! { [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }; then
  say "missing ${missing[*]} and no apt-get here: install them yourself (test/tls.test.ts needs them)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  say "missing ${missing[*]}; install as root with: apt-get install -y ${missing[*]}"
  exit 0
fi

# Another apt run (e.g. the browser bootstrap) holds the lock: wait for it.
for i in $(seq 1 120); do
  if ! fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock >/dev/null 2>&1; then break; fi
  [ "$i" = 1 ] && say "waiting for another apt/dpkg run to finish"
  sleep 5
done

export DEBIAN_FRONTEND=noninteractive
say "installing ${missing[*]} (log: $LOG)"
if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$LOG" 2>&1; then
  apt-get update >>"$LOG" 2>&1 || true
  apt-get install -y --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 ||
    say "apt-get install ${missing[*]} failed (see $LOG)"
fi
exit 0
