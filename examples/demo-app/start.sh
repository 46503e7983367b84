# shipit demo app entrypoint (run by: /bin/busybox sh /app/start.sh).
# The image is FROM scratch and holds only /bin/busybox: create the applet
# links (sleep, printf, hostname, nc, ...) unless the build already did.
[ -e /bin/nc ] || /bin/busybox --install -s /bin 2>/dev/null || true
export PATH=/bin

# Computed once; handler.sh falls back to $(hostname) when unset.
APP_HOST="$(hostname 2>/dev/null)"
export APP_HOST

PORT="${PORT:-8080}"
echo "demo-web version=${APP_VERSION:-unknown} host=${APP_HOST} listening on :${PORT}"

# PID 1 in a container ignores SIGTERM unless it installs a handler, so nc must
# not be PID 1: this shell traps TERM/INT, kills the listener and exits at once
# (`docker stop` returns in well under a second instead of waiting for SIGKILL).
# nc -ll forks /app/handler.sh once per connection, so requests run concurrently.
nc_pid=
shutdown() {
  trap '' TERM INT
  echo "demo-web: $1, stopping"
  [ -n "$nc_pid" ] && kill "$nc_pid" 2>/dev/null
  exit 0
}
trap 'shutdown SIGTERM' TERM
trap 'shutdown SIGINT' INT

# fd 3: the container's stdout, for handler.sh's /log (nc -e gives it the socket as stdout).
exec 3>&1
nc -ll -p "$PORT" -e /bin/busybox sh /app/handler.sh &
nc_pid=$!
wait "$nc_pid"
status=$?
echo "demo-web: listener exited with status $status"
exit "$status"
