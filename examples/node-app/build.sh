#!/usr/bin/env bash
# Builds node-web:v1, node-web:v2 and node-web:v3 (APP_VERSION v1/v2/v3) FROM scratch
# with this machine's Node binary and the shared libraries `ldd` lists for it (no
# registry needed). Idempotent: a tag whose image already carries the hash of the
# current inputs (Dockerfile, server.js, node binary, its libraries, build args) is
# not rebuilt. Runs from any cwd. Prints one line per tag.
#   NODE=/path/to/node   (default: `command -v node`)
#   FORCE=1              rebuild every tag
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO=node-web
VERSIONS=(v1 v2 v3)
HASH_LABEL=io.shipit.example.inputs

die() {
  printf 'node-app/build.sh: %s\n' "$*" >&2
  exit 1
}

command -v docker >/dev/null 2>&1 || die "docker CLI not found"
# shellcheck source=../../scripts/lib/node-rootfs.sh
. "$HERE/../../scripts/lib/node-rootfs.sh"
node_rootfs_resolve
node_bin=$NODE_ROOTFS_BIN

# Hash of everything that goes into the images (library paths and contents included).
inputs_hash="$(
  {
    cat "$HERE/Dockerfile" "$HERE/server.js"
    node_rootfs_inputs
  } | sha256sum | cut -c1-32
)"

ctx=
trap '[ -z "$ctx" ] || rm -rf "$ctx"' EXIT

# Temp build context: Dockerfile, server.js and rootfs/ (node at /usr/bin/node, the
# libraries at the paths ldd printed, symlinks resolved). Made only when a tag needs it.
stage() {
  [ -z "$ctx" ] || return 0
  ctx="$(mktemp -d "${TMPDIR:-/tmp}/node-web-build.XXXXXX")"
  cp "$HERE/Dockerfile" "$HERE/server.js" "$ctx/"
  node_rootfs_stage "$ctx/rootfs"
}

# build VERSION: tag $REPO:VERSION with APP_VERSION=VERSION
build() {
  local version=$1 tag="$REPO:$1" want="$inputs_hash-$1" have old id size
  have="$(docker image inspect -f "{{index .Config.Labels \"$HASH_LABEL\"}}" "$tag" 2>/dev/null || true)"
  old="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
  if [ "${FORCE:-0}" != 1 ] && [ "$have" = "$want" ]; then
    printf '%s up to date (%s)\n' "$tag" "${old:7:12}"
    return
  fi
  stage
  if ! id="$(DOCKER_BUILDKIT=0 docker build -q \
    --build-arg "APP_VERSION=$version" \
    --label "$HASH_LABEL=$want" \
    -t "$tag" "$ctx" 2>&1)"; then
    printf '%s\n' "$id" >&2
    die "docker build of $tag failed"
  fi
  id="${id##*$'\n'}"
  # Drop the image this tag replaced, unless a container or another tag uses it.
  if [ -n "$old" ] && [ "$old" != "$id" ]; then docker image rm "$old" >/dev/null 2>&1 || true; fi
  size="$(docker image inspect -f '{{.Size}}' "$tag")"
  id="${id#sha256:}"
  printf '%s built (%s, %s MB, node %s)\n' "$tag" "${id:0:12}" "$((size / 1000000))" "$node_bin"
}

for v in "${VERSIONS[@]}"; do build "$v"; done
