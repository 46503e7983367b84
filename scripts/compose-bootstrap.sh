#!/usr/bin/env bash
# Makes `docker-compose` (Compose v1, Debian's docker-compose package) available, idempotently:
#  - does nothing when `docker-compose version` already answers;
#  - installs the package when missing (Debian, as root only);
#  - otherwise says how to install it and exits 1.
# test/compose.test.ts and docs/compose.md use it; Compose v2 (`docker compose`) reads the
# same docker-compose.yml.
set -euo pipefail

say() { printf 'compose-bootstrap: %s\n' "$*" >&2; }

compose_answers() {
  command -v docker-compose >/dev/null 2>&1 && timeout 30 docker-compose version >/dev/null 2>&1
}
is_root() { [ "$(id -u)" = 0 ]; }
is_debian() { [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }

if compose_answers; then exit 0; fi

if ! { is_debian && is_root; }; then
  say "docker-compose is missing."
  say "Install it with your package manager (on Debian/Ubuntu, as root: apt-get install -y docker-compose),"
  say "or see https://docs.docker.com/compose/install/, then run this again."
  exit 1
fi

say "installing docker-compose"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends docker-compose >/tmp/shipit-apt-compose.log 2>&1; then
  apt-get update >/tmp/shipit-apt-update.log 2>&1 || true
  apt-get install -y --no-install-recommends docker-compose >/tmp/shipit-apt-compose.log 2>&1 || {
    say "apt-get install docker-compose failed; see /tmp/shipit-apt-compose.log"
    tail -20 /tmp/shipit-apt-compose.log >&2
    exit 1
  }
fi
compose_answers || {
  say "docker-compose was installed but \`docker-compose version\` does not answer"
  exit 1
}
say "ready: $(docker-compose version --short 2>/dev/null || docker-compose version | head -1)"
