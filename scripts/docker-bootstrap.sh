#!/usr/bin/env bash
# Makes a Docker engine answer on this machine, idempotently:
#  - does nothing when `docker info` already answers;
#  - installs docker.io and busybox-static when missing (Debian, as root only);
#  - starts dockerd when it is not running (removing a stale pid file first);
#  - waits for the socket to answer.
set -euo pipefail

SOCK="${SHIPIT_DOCKER_SOCK:-/var/run/docker.sock}"
PIDFILE=/var/run/docker.pid
LOG="${SHIPIT_DOCKERD_LOG:-/var/log/shipit-dockerd.log}"
WAIT_S="${SHIPIT_DOCKER_WAIT:-60}"

say() { printf 'docker-bootstrap: %s\n' "$*" >&2; }

engine_answers() {
  command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1
}

is_root() { [ "$(id -u)" = 0 ]; }

# A pid from the pid file counts only if it is a live dockerd: after a kill -9
# the pid may be a zombie awaiting its reaper, or reused by another process.
dockerd_alive() {
  local pid=$1 stat comm
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  stat=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$comm" = dockerd ] && [ "$stat" != Z ]
}
is_debian() { [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }

need_install=()
command -v dockerd >/dev/null 2>&1 || need_install+=(docker.io)
# The demo image needs a *static* busybox: the dynamic one cannot run FROM scratch.
if ! dpkg -s busybox-static >/dev/null 2>&1; then need_install+=(busybox-static); fi

if engine_answers && [ ${#need_install[@]} -eq 0 ]; then
  exit 0
fi

if [ ${#need_install[@]} -gt 0 ]; then
  if is_debian && is_root; then
    say "installing ${need_install[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "${need_install[@]}" >/tmp/shipit-apt.log 2>&1; then
      apt-get update >/tmp/shipit-apt-update.log 2>&1 || true
      apt-get install -y --no-install-recommends "${need_install[@]}" >/tmp/shipit-apt.log 2>&1 || {
        say "apt-get install ${need_install[*]} failed; see /tmp/shipit-apt.log"
        tail -20 /tmp/shipit-apt.log >&2
        exit 1
      }
    fi
  else
    say "missing: ${need_install[*]}."
    say "Install them with your package manager (on Debian/Ubuntu, as root: apt-get install -y docker.io busybox-static),"
    say "or install Docker Engine (https://docs.docker.com/engine/install/) and a static busybox, then run this again."
    exit 1
  fi
fi

if engine_answers; then exit 0; fi

if ! is_root; then
  say "dockerd is installed but not answering on $SOCK and this script is not root."
  say "Start it (e.g. 'sudo systemctl start docker' or 'sudo dockerd &') or add your user to the docker group."
  exit 1
fi

if [ -f "$PIDFILE" ]; then
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  if dockerd_alive "$pid"; then
    say "dockerd (pid $pid) is running but not answering yet; waiting"
  else
    say "removing stale $PIDFILE (pid ${pid:-?} is not a live dockerd)"
    rm -f "$PIDFILE"
  fi
fi

if ! { [ -f "$PIDFILE" ] && dockerd_alive "$(cat "$PIDFILE")"; }; then
  # containerd's own pid file can be stale the same way.
  rm -f /var/run/docker/containerd/containerd.pid 2>/dev/null || true
  say "starting dockerd (log: $LOG)"
  nohup setsid dockerd >"$LOG" 2>&1 </dev/null &
fi

for _ in $(seq 1 "$((WAIT_S * 4))"); do
  if [ -S "$SOCK" ] && engine_answers; then
    say "engine ready: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null)"
    exit 0
  fi
  sleep 0.25
done
say "dockerd did not answer on $SOCK within ${WAIT_S}s; last lines of $LOG:"
tail -20 "$LOG" >&2 || true
exit 1
