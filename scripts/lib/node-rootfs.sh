# shellcheck shell=bash
# Shared by scripts/base-image.sh and examples/node-app/build.sh: puts this machine's Node
# binary and exactly the shared libraries `ldd` lists for it into a rootfs/ folder, so a
# FROM scratch image runs node without pulling anything. Source it, then:
#   node_rootfs_resolve            sets NODE_ROOTFS_BIN (the real node binary) and
#                                  NODE_ROOTFS_LIBS (absolute library paths); dies on error
#   node_rootfs_inputs             prints the binary and every library (path + bytes), for
#                                  hashing into an image label
#   node_rootfs_stage DIR          copies node to DIR/usr/bin/node and the libraries to
#                                  DIR/<their path> (symlinks resolved)
# The caller defines die() (prints and exits). NODE=/path/to/node overrides `command -v node`.

node_rootfs_resolve() {
  command -v ldd >/dev/null 2>&1 ||
    die "ldd not found: it is needed to list node's shared libraries (apt-get install libc-bin)"
  local node_cmd ldd_out lib
  node_cmd="${NODE:-$(command -v node || true)}"
  [ -n "$node_cmd" ] || die "node not found in PATH (set NODE=/path/to/node)"
  case $node_cmd in
    /*) ;;
    *) die "node is '$node_cmd', not a path to a binary (set NODE=/path/to/node)" ;;
  esac
  NODE_ROOTFS_BIN="$(readlink -f -- "$node_cmd" 2>/dev/null || true)"
  [ -n "$NODE_ROOTFS_BIN" ] && [ -f "$NODE_ROOTFS_BIN" ] && [ -x "$NODE_ROOTFS_BIN" ] ||
    die "node at $node_cmd does not resolve to a real executable file (got '${NODE_ROOTFS_BIN:-nothing}')"
  head -c 4 "$NODE_ROOTFS_BIN" | grep -q $'^\x7fELF' ||
    die "$NODE_ROOTFS_BIN is not an ELF binary (a wrapper script or version-manager shim?): set NODE=/path/to/the/real/node"

  # Shared libraries, as absolute paths: "name => /path (addr)" and "/path (addr)" lines;
  # linux-vdso has no file and is skipped.
  ldd_out="$(ldd "$NODE_ROOTFS_BIN" 2>&1)" || {
    case $ldd_out in
      *'not a dynamic executable'* | *'statically linked'*) ldd_out= ;;
      *) die "ldd $NODE_ROOTFS_BIN failed: $ldd_out" ;;
    esac
  }
  if grep -q 'not found' <<<"$ldd_out"; then
    die "ldd $NODE_ROOTFS_BIN: missing libraries: $(grep 'not found' <<<"$ldd_out" | tr -s ' \t\n' ' ')"
  fi
  mapfile -t NODE_ROOTFS_LIBS < <(awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }' <<<"$ldd_out")
  for lib in "${NODE_ROOTFS_LIBS[@]}"; do
    [ -r "$lib" ] || die "ldd lists $lib but it cannot be read"
  done
}

node_rootfs_inputs() {
  local lib
  cat "$NODE_ROOTFS_BIN"
  for lib in "${NODE_ROOTFS_LIBS[@]}"; do
    printf '\n%s\n' "$lib"
    cat "$lib"
  done
}

node_rootfs_stage() {
  local dir=$1 lib
  mkdir -p "$dir/usr/bin"
  cp -L "$NODE_ROOTFS_BIN" "$dir/usr/bin/node"
  chmod 0755 "$dir/usr/bin/node"
  for lib in "${NODE_ROOTFS_LIBS[@]}"; do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done
}
