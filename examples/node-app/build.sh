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
command -v ldd >/dev/null 2>&1 ||
  die "ldd not found: it is needed to list node's shared libraries (apt-get install libc-bin)"

node_cmd="${NODE:-$(command -v node || true)}"
[ -n "$node_cmd" ] || die "node not found in PATH (set NODE=/path/to/node)"
case $node_cmd in
  /*) ;;
  *) die "node is '$node_cmd', not a path to a binary (set NODE=/path/to/node)" ;;
esac
node_bin="$(readlink -f -- "$node_cmd" 2>/dev/null || true)"
[ -n "$node_bin" ] && [ -f "$node_bin" ] && [ -x "$node_bin" ] ||
  die "node at $node_cmd does not resolve to a real executable file (got '${node_bin:-nothing}')"
head -c 4 "$node_bin" | grep -q $'^\x7fELF' ||
  die "$node_bin is not an ELF binary (a wrapper script or version-manager shim?): set NODE=/path/to/the/real/node"

# Shared libraries, as absolute paths: "name => /path (addr)" and "/path (addr)" lines;
# linux-vdso has no file and is skipped.
ldd_out="$(ldd "$node_bin" 2>&1)" || {
  case $ldd_out in
    *'not a dynamic executable'* | *'statically linked'*) ldd_out= ;;
    *) die "ldd $node_bin failed: $ldd_out" ;;
  esac
}
if grep -q 'not found' <<<"$ldd_out"; then
  die "ldd $node_bin: missing libraries: $(grep 'not found' <<<"$ldd_out" | tr -s ' \t\n' ' ')"
fi
mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }' <<<"$ldd_out")
for lib in "${libs[@]}"; do
  [ -r "$lib" ] || die "ldd lists $lib but it cannot be read"
done

# Hash of everything that goes into the images (library paths and contents included).
inputs_hash="$(
  {
    cat "$HERE/Dockerfile" "$HERE/server.js" "$node_bin"
    for lib in "${libs[@]}"; do
      printf '\n%s\n' "$lib"
      cat "$lib"
    done
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
  mkdir -p "$ctx/rootfs/usr/bin"
  cp -L "$node_bin" "$ctx/rootfs/usr/bin/node"
  chmod 0755 "$ctx/rootfs/usr/bin/node"
  for lib in "${libs[@]}"; do
    mkdir -p "$ctx/rootfs$(dirname "$lib")"
    cp -L "$lib" "$ctx/rootfs$lib"
  done
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
