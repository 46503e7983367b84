#!/usr/bin/env bash
# Installs what the proxy bench needs, idempotently (Debian, as root):
#  - nginx (nginx-light where the release still has it, else nginx), the
#    reference proxy; the bench runs its own instance with a temp config, so
#    the distribution's service is never started or touched;
#  - wrk, the load generator for the throughput figures.
# Does nothing when both are already on PATH (nginx may live in /usr/sbin).
set -euo pipefail

say() { printf 'nginx-bootstrap: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

need=()
have nginx || need+=(nginx)
have wrk || need+=(wrk)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "missing ${need[*]}: install them (Debian: apt-get install nginx-light wrk) and retry"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Keep the package's own service from starting at install (we run our own nginx).
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
fi
cleanup() { if [ -n "$made_policy" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

say "installing ${need[*]}"
apt-get update -qq >/dev/null
pkgs=()
for p in "${need[@]}"; do
  if [ "$p" = nginx ] && apt-cache show nginx-light >/dev/null 2>&1; then
    pkgs+=(nginx-light)
  else
    pkgs+=("$p")
  fi
done
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null

# Had a service manager started the packaged nginx anyway, it would be left
# alone: the bench runs its own, with its own port, config and pid file.
for p in nginx wrk; do
  if ! have "$p"; then
    say "$p still missing after install"
    exit 1
  fi
done
