#!/usr/bin/env bash
# Makes a Chromium available for the dashboard's browser test, idempotently:
#  - does nothing when the browser (SHIPIT_CHROMIUM, default /usr/bin/chromium) exists;
#  - else installs Debian's chromium with apt-get (as root, on Debian/Ubuntu).
# Never fails: without a browser the test skips and says how to install one.
set -uo pipefail

CHROMIUM="${SHIPIT_CHROMIUM:-/usr/bin/chromium}"
LOG="${TMPDIR:-/tmp}/shipit-apt-chromium.log"

say() { printf 'browser-bootstrap: %s\n' "$*" >&2; }

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if ! { [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }; then
  say "no $CHROMIUM and no apt-get here: install Chromium yourself (or set SHIPIT_CHROMIUM); the dashboard browser test will skip"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  say "no $CHROMIUM; install it as root with: apt-get install -y chromium (the dashboard browser test skips until then)"
  exit 0
fi

# Another apt run (e.g. an earlier bootstrap in the background) holds the lock: wait for it.
wait_for_apt() {
  local i
  for i in $(seq 1 120); do
    if ! fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock >/dev/null 2>&1; then return 0; fi
    [ "$i" = 1 ] && say "waiting for another apt/dpkg run to finish"
    sleep 5
  done
  return 1
}

export DEBIAN_FRONTEND=noninteractive
say "installing chromium (log: $LOG)"
wait_for_apt || say "apt is still locked after 10 minutes; trying anyway"
if ! apt-get install -y --no-install-recommends chromium >"$LOG" 2>&1; then
  apt-get update >>"$LOG" 2>&1 || true
  wait_for_apt || true
  if ! apt-get install -y --no-install-recommends chromium >>"$LOG" 2>&1; then
    say "apt-get install chromium failed (see $LOG); the dashboard browser test will skip"
    tail -5 "$LOG" >&2
    exit 0
  fi
fi
if [ -x "$CHROMIUM" ]; then
  say "chromium installed: $("$CHROMIUM" --version 2>/dev/null | tail -1)"
else
  say "chromium was installed but $CHROMIUM is missing; the dashboard browser test will skip"
fi
exit 0
