#!/usr/bin/env bash
# Makes the local base image for shipit's own container (see Dockerfile, docs/compose.md):
# FROM scratch with this machine's Node binary and the shared libraries `ldd` lists for
# it, plus what shipit needs at runtime (/tmp, a root user in /etc/passwd). Nothing is
# pulled, so it works without a registry; shipit's native module (better-sqlite3) was built
# on this machine, against the same glibc. Idempotent: an image that already carries the
# hash of the current inputs is not rebuilt. Runs from any cwd. Prints one line.
#   SHIPIT_BASE_IMAGE=name:tag   (default shipit-node-base:local)
#   NODE=/path/to/node           (default: `command -v node`)
#   FORCE=1                      rebuild even when up to date
# Then: SHIPIT_BASE=shipit-node-base:local docker-compose up -d --build
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TAG="${SHIPIT_BASE_IMAGE:-shipit-node-base:local}"
HASH_LABEL=io.shipit.base.inputs

die() {
  printf 'base-image.sh: %s\n' "$*" >&2
  exit 1
}

command -v docker >/dev/null 2>&1 || die "docker CLI not found"
# shellcheck source=lib/node-rootfs.sh
. "$HERE/lib/node-rootfs.sh"
node_rootfs_resolve

# PATH: a FROM scratch image has none, and the Dockerfile runs `node` by name (the official
# image has it in /usr/local/bin). HOME: some libraries look for a home directory.
DOCKERFILE='FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/root
LABEL io.shipit.base=node
'
PASSWD='root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
'
GROUP='root:x:0:
nogroup:x:65534:
'

want="$(
  {
    printf '%s\0%s\0%s\0' "$DOCKERFILE" "$PASSWD" "$GROUP"
    node_rootfs_inputs
  } | sha256sum | cut -c1-32
)"
have="$(docker image inspect -f "{{index .Config.Labels \"$HASH_LABEL\"}}" "$TAG" 2>/dev/null || true)"
old="$(docker image inspect -f '{{.Id}}' "$TAG" 2>/dev/null || true)"
if [ "${FORCE:-0}" != 1 ] && [ "$have" = "$want" ]; then
  printf '%s up to date (%s)\n' "$TAG" "${old:7:12}"
  exit 0
fi

ctx="$(mktemp -d "${TMPDIR:-/tmp}/shipit-base.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
printf '%s' "$DOCKERFILE" >"$ctx/Dockerfile"
node_rootfs_stage "$ctx/rootfs"
mkdir -p "$ctx/rootfs/etc" "$ctx/rootfs/tmp" "$ctx/rootfs/var/tmp" "$ctx/rootfs/root"
printf '%s' "$PASSWD" >"$ctx/rootfs/etc/passwd"
printf '%s' "$GROUP" >"$ctx/rootfs/etc/group"
chmod 1777 "$ctx/rootfs/tmp" "$ctx/rootfs/var/tmp"
chmod 0700 "$ctx/rootfs/root"

if ! id="$(DOCKER_BUILDKIT=0 docker build -q --label "$HASH_LABEL=$want" -t "$TAG" "$ctx" 2>&1)"; then
  printf '%s\n' "$id" >&2
  die "docker build of $TAG failed"
fi
id="${id##*$'\n'}"
# Drop the image this tag replaced, unless a container or another image uses it.
if [ -n "$old" ] && [ "$old" != "$id" ]; then docker image rm "$old" >/dev/null 2>&1 || true; fi
size="$(docker image inspect -f '{{.Size}}' "$TAG")"
id="${id#sha256:}"
printf '%s built (%s, %s MB, node %s)\n' "$TAG" "${id:0:12}" "$((size / 1000000))" "$NODE_ROOTFS_BIN"
