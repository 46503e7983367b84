#!/usr/bin/env bash
# Builds the demo images demo-web:v1, demo-web:v2 and demo-web:broken from
# scratch (no registry needed). Idempotent: a tag whose image already carries
# the hash of the current build inputs is not rebuilt. Runs from any cwd.
#   BUSYBOX=/path/to/static/busybox  (default /bin/busybox)
#   FORCE=1                          rebuild every tag
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUSYBOX="${BUSYBOX:-/bin/busybox}"
REPO=demo-web
HASH_LABEL=io.shipit.example.inputs

die() {
  printf 'demo-app/build.sh: %s\n' "$*" >&2
  exit 1
}

command -v docker >/dev/null 2>&1 || die "docker CLI not found"

[ -x "$BUSYBOX" ] || die "$BUSYBOX is missing: install a static busybox (apt-get install busybox-static)"
is_static() {
  if command -v file >/dev/null 2>&1; then
    file -L "$BUSYBOX" | grep -Eq 'statically linked|static-pie linked'
  elif command -v ldd >/dev/null 2>&1; then
    local out
    out="$(ldd "$BUSYBOX" 2>&1 || true)"
    printf '%s' "$out" | grep -Eq 'not a dynamic executable|statically linked'
  else
    return 0 # nothing to check with; docker build will tell
  fi
}
is_static || die "$BUSYBOX is not statically linked, so it cannot run in a FROM scratch image: apt-get install busybox-static"

# Hash of everything that goes into the images.
inputs_hash="$(cat "$HERE/Dockerfile" "$HERE/start.sh" "$HERE/handler.sh" "$BUSYBOX" | sha256sum | cut -c1-32)"

ctx="$(mktemp -d "${TMPDIR:-/tmp}/demo-web-build.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
cp "$HERE/Dockerfile" "$HERE/start.sh" "$HERE/handler.sh" "$ctx/"
cp "$BUSYBOX" "$ctx/busybox"
chmod 0755 "$ctx/busybox"

# build TAG APP_VERSION UNHEALTHY
build() {
  local tag="$REPO:$1" version=$2 unhealthy=$3
  local want="$inputs_hash-$version-$unhealthy" have old id
  have="$(docker image inspect -f "{{index .Config.Labels \"$HASH_LABEL\"}}" "$tag" 2>/dev/null || true)"
  old="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
  if [ "${FORCE:-0}" != 1 ] && [ "$have" = "$want" ]; then
    id="$(docker image inspect -f '{{.Id}}' "$tag")"
    printf '%s up to date (%s)\n' "$tag" "${id:7:12}"
    return
  fi
  if ! id="$(DOCKER_BUILDKIT=0 docker build -q \
    --build-arg "APP_VERSION=$version" \
    --build-arg "UNHEALTHY=$unhealthy" \
    --label "$HASH_LABEL=$want" \
    -t "$tag" "$ctx" 2>&1)"; then
    printf '%s\n' "$id" >&2
    die "docker build of $tag failed"
  fi
  id="${id##*$'\n'}"
  # Drop the image this tag replaced, unless a container or another tag uses it.
  if [ -n "$old" ] && [ "$old" != "$id" ]; then docker image rm "$old" >/dev/null 2>&1 || true; fi
  id="${id#sha256:}"
  printf '%s built (%s)\n' "$tag" "${id:0:12}"
}

build v1 v1 0
build v2 v2 0
build broken broken 1
