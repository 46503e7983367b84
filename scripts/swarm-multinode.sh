#!/usr/bin/env bash
# Extra Docker engines on this machine as Swarm workers, for the multi-node test:
# each in its own network namespace (veth on the bridge shmn0), with its own
# data-root, exec-root, pidfile and socket. The main engine becomes the manager,
# advertised on shmn0. Usage:
#   swarm-multinode.sh up N [images...]   start N workers, join them, load the images
#   swarm-multinode.sh kill I             kill -9 worker I's dockerd (and its containerd)
#   swarm-multinode.sh down N             remove workers, leave the swarm
set -euo pipefail
BR=shmn0
NET=10.231.0
say() { printf 'swarm-multinode: %s\n' "$*" >&2; }
sock() { echo "/run/shmn-w$1/docker.sock"; }

worker_up() {
  local i=$1 ns=shmn-w$i root=/run/shmn-w$i
  ip netns add "$ns" 2>/dev/null || true
  if ! ip link show "shmn-h$i" >/dev/null 2>&1; then
    ip link add "shmn-h$i" type veth peer name eth0 netns "$ns"
    ip link set "shmn-h$i" master "$BR" up
    ip -n "$ns" addr add "$NET.$((10 + i))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" route add default via "$NET.1"
  fi
  mkdir -p "$root" "/var/lib/shmn-w$i"
  if ! docker -H "unix://$(sock "$i")" info >/dev/null 2>&1; then
    # Its own mount namespace with a sysfs of its network namespace (/sys/class/net), and the
    # host's cgroup mounts put back on it (`ip netns exec` alone loses them: "Devices cgroup
    # isn't mounted").
    nsenter --net="/var/run/netns/$ns" unshare -m --propagation private sh -c '
      mkdir -p /run/shmn-cg && mount --rbind /sys/fs/cgroup /run/shmn-cg &&
      umount -l /sys && mount -t sysfs sysfs /sys &&
      mount --rbind /run/shmn-cg /sys/fs/cgroup && exec "$@"' sh env DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 dockerd \
      --data-root "/var/lib/shmn-w$i" --exec-root "$root/exec" --pidfile "$root/dockerd.pid" \
      -H "unix://$(sock "$i")" --containerd-namespace "shmn-w$i" --containerd-plugins-namespace "shmn-w$i-plugins" \
      --default-address-pool "base=172.$((40 + i)).0.0/16,size=24" \
      >"$root/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do
      docker -H "unix://$(sock "$i")" info >/dev/null 2>&1 && break
      sleep 0.5
    done
    docker -H "unix://$(sock "$i")" info >/dev/null || { tail -20 "$root/dockerd.log"; exit 1; }
  fi
}

case "${1:-}" in
up)
  n=$2; shift 2
  ip link show "$BR" >/dev/null 2>&1 || {
    ip link add "$BR" type bridge
    ip addr add "$NET.1/24" dev "$BR"
    ip link set "$BR" up
  }
  iptables -C DOCKER-USER -i "$BR" -o "$BR" -j ACCEPT 2>/dev/null || iptables -I DOCKER-USER -i "$BR" -o "$BR" -j ACCEPT
  state=$(docker info --format '{{.Swarm.LocalNodeState}}')
  if [ "$state" != active ]; then
    docker swarm init --advertise-addr "$NET.1" >/dev/null
  fi
  token=$(docker swarm join-token -q worker)
  for i in $(seq 1 "$n"); do
    worker_up "$i"
    s="unix://$(sock "$i")"
    st=$(docker -H "$s" info --format '{{.Swarm.LocalNodeState}}')
    # A worker killed in an earlier run comes back with the old swarm's state.
    [ "$st" = active ] || [ "$st" = inactive ] || docker -H "$s" swarm leave --force >/dev/null
    if [ "$st" != active ]; then
      docker -H "$s" swarm join --token "$token" --advertise-addr "$NET.$((10 + i))" "$NET.1:2377" >/dev/null
    fi
    [ $# -gt 0 ] && docker save "$@" | docker -H "$s" load -q >/dev/null
    say "worker $i: $(docker -H "$s" info --format '{{.Swarm.NodeID}} {{.Swarm.LocalNodeState}}')"
  done
  ;;
kill)
  i=$2
  # Everything the worker runs in its network namespace: dockerd, containerd, the shims.
  pids=$(ip netns pids "shmn-w$i" 2>/dev/null || true)
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
  ;;
down)
  n=$2
  for i in $(seq 1 "$n"); do
    s="unix://$(sock "$i")"
    docker -H "$s" swarm leave --force >/dev/null 2>&1 || true
    if [ -f "/run/shmn-w$i/dockerd.pid" ]; then
      kill "$(cat "/run/shmn-w$i/dockerd.pid")" 2>/dev/null || true
      sleep 2
    fi
    pids=$(ip netns pids "shmn-w$i" 2>/dev/null || true)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
    ip link del "shmn-h$i" 2>/dev/null || true
    ip netns del "shmn-w$i" 2>/dev/null || true
    rm -rf "/var/lib/shmn-w$i" "/run/shmn-w$i"
  done
  for id in $(docker node ls -q --filter role=worker 2>/dev/null); do docker node rm --force "$id" >/dev/null || true; done
  iptables -D DOCKER-USER -i "$BR" -o "$BR" -j ACCEPT 2>/dev/null || true
  ip link del "$BR" 2>/dev/null || true
  ;;
*)
  echo "usage: $0 up N [images...] | kill I | down N" >&2; exit 2 ;;
esac
