#!/usr/bin/env bash
# Builds the container images the one-node cluster runs, with buildah and no registry:
#   debian   Debian 12 minbase (debootstrap from Debian's mirror), the base of the others
#   node     debian + Node 24 from the npm `node` package + npm: the Dockerfile's NODE_IMAGE here
#   pause    the pod sandbox: the static `pause` binary from go/pause, alone
#   redis    debian + Debian's redis-server (the chart's dev Redis)
#   mongo    debian + the FerretDB binary from go/ferretdb (the chart's dev MongoDB-wire store)
#   vendorfetch   the product, from the project's own Dockerfile with NODE_IMAGE=<node above>
#
#   images.sh build [name...]   build what is missing (base images are cached by version; the
#                               product image is rebuilt from the working tree every time,
#                               with buildah's layer cache)
#   images.sh list              name<TAB>image<TAB>archive<TAB>present|missing
#
# Each image is also written as an OCI archive to <cache>/images/<name>-<version>.oci.tar, which
# `npm run cluster -- load` imports into the node's containerd. Sizes go to <archive>.size.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${VF_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vendorfetch/bin}
images_dir="$(dirname "$cache")/images"
mkdir -p "$images_dir"
debian_suite=bookworm
debian_mirror=${VF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
all=(debian node pause redis mongo vendorfetch)

node_version() { "$repo/node_modules/.bin/node" --version; }
npm_version() { awk -F'"' '/"version"/ { print $4; exit }' "$repo/node_modules/npm/package.json" 2>/dev/null || npm --version; }
binary() { bash "$here/build.sh" paths | awk -F'\t' -v n="$1" '$1 == n { print $3 }'; }
binary_version() { bash "$here/build.sh" paths | awk -F'\t' -v n="$1" '$1 == n { print $2 }'; }

# The image reference (localhost/…, never pulled: the chart uses pullPolicy IfNotPresent/Never).
version_of() {
  case "$1" in
    debian) echo "$debian_suite" ;;
    node) echo "$(node_version | tr -d v)" ;;
    pause) binary_version pause ;;
    redis) echo "$debian_suite" ;;
    mongo) binary_version ferretdb ;;
    vendorfetch) echo dev ;;
    *) echo "unknown image: $1 (known: ${all[*]})" >&2; return 1 ;;
  esac
}
ref_of() { echo "localhost/vf-$1:$(version_of "$1")"; }
ref_of_product() { echo "localhost/vendorfetch:dev"; }
image_ref() { [[ $1 == vendorfetch ]] && ref_of_product || ref_of "$1"; }
archive_of() { echo "$images_dir/$1-$(version_of "$1").oci.tar"; }

save() {
  local name=$1 ref archive
  ref=$(image_ref "$name")
  archive=$(archive_of "$name")
  rm -f "$archive.tmp"
  buildah push --quiet "$ref" "oci-archive:$archive.tmp:$ref" >/dev/null
  mv "$archive.tmp" "$archive"
  # Uncompressed size of the image as containerd will store it, and the archive's size.
  local size
  size=$(buildah images --noheading --format '{{.Size}}' "$ref" 2>/dev/null | head -1)
  printf 'image=%s\nsize_in_storage=%s\narchive_bytes=%s\nbuilt_at=%s\n' \
    "$ref" "$size" "$(stat -c %s "$archive")" "$(date -u +%FT%TZ)" >"$archive.size"
  echo "images: $ref -> $archive ($(( $(stat -c %s "$archive") / 1024 / 1024 )) MiB)"
}

have() { [[ -s $(archive_of "$1") ]] && buildah inspect --type image "$(image_ref "$1")" >/dev/null 2>&1; }

build_debian() {
  local rootfs
  rootfs=$(mktemp -d "${TMPDIR:-/tmp}/vf-debian-rootfs.XXXXXX")
  trap 'rm -rf "$rootfs" "$rootfs.tar"; trap - RETURN' RETURN
  echo "images: debootstrap $debian_suite (minbase) from $debian_mirror ..."
  debootstrap --variant=minbase "$debian_suite" "$rootfs" "$debian_mirror" >"$rootfs.log" 2>&1 || {
    tail -20 "$rootfs.log" >&2; rm -f "$rootfs.log"; return 1; }
  rm -f "$rootfs.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  local c
  c=$(buildah from scratch)
  tar -C "$rootfs" -cf "$rootfs.tar" .
  buildah add "$c" "$rootfs.tar" / >/dev/null
  rm -f "$rootfs.tar"
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash "$c"
  buildah commit --quiet --rm "$c" "$(ref_of debian)" >/dev/null
}

build_node() {
  local nodebin npmdir c tmp
  nodebin=$(readlink -f "$repo/node_modules/.bin/node")
  [[ -x $nodebin ]] || { echo "images: run npm install first (the node devDependency provides Node 24)" >&2; return 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"; trap - RETURN' RETURN
  # npm itself, from the registry (the `node` package ships the node binary only).
  (cd "$tmp" && npm pack --silent "npm@$(npm --version)" >/dev/null && mkdir npm && tar -xzf npm-*.tgz -C npm --strip-components=1)
  c=$(buildah from "$(ref_of debian)")
  buildah copy "$c" "$nodebin" /usr/local/bin/node >/dev/null
  buildah copy "$c" "$tmp/npm" /usr/local/lib/node_modules/npm >/dev/null
  buildah run "$c" -- sh -c 'ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx && node --version && npm --version' >/dev/null
  buildah config --cmd node "$c"
  buildah commit --quiet --rm "$c" "$(ref_of node)" >/dev/null
}

build_pause() {
  local c bin
  bin=$(binary pause)
  [[ -x $bin ]] || bash "$here/build.sh" build pause
  c=$(buildah from scratch)
  buildah copy "$c" "$bin" /pause >/dev/null
  buildah config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  buildah commit --quiet --rm "$c" "$(ref_of pause)" >/dev/null
}

build_redis() {
  local c
  c=$(buildah from "$(ref_of debian)")
  buildah run --network host "$c" -- sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data'
  buildah config --user redis --workingdir /data --cmd '["redis-server", "--save", "", "--appendonly", "no", "--dir", "/data"]' --port 6379 "$c"
  buildah commit --quiet --rm "$c" "$(ref_of redis)" >/dev/null
}

build_mongo() {
  local c bin
  bin=$(binary ferretdb)
  [[ -x $bin ]] || bash "$here/build.sh" build ferretdb
  c=$(buildah from "$(ref_of debian)")
  buildah copy "$c" "$bin" /usr/local/bin/ferretdb >/dev/null
  buildah run "$c" -- sh -c 'groupadd --gid 10001 ferretdb && useradd --uid 10001 --gid 10001 --no-create-home ferretdb && mkdir -p /data/db && chown 10001:10001 /data/db'
  buildah config --user 10001:10001 --port 27017 --entrypoint '["/usr/local/bin/ferretdb"]' \
    --cmd '["--listen-addr", "0.0.0.0:27017", "--sqlite-dir", "/data/db", "--log-level", "warn"]' "$c"
  buildah commit --quiet --rm "$c" "$(ref_of mongo)" >/dev/null
}

build_vendorfetch() {
  # --network host: the build stage runs `npm ci` against the npm registry. Where this machine
  # reaches the registry through a TLS proxy with its own CA (trusted by the host, unknown to a
  # fresh image), RUN steps get the host's CA bundle and an npmrc naming it, as read-only
  # volumes: nothing of it lands in a layer, and the Dockerfile stays the one everyone uses.
  local npmrc
  npmrc=$(mktemp)
  local ca=${VF_BUILD_CA_BUNDLE:-${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}}
  local volumes=()
  if [[ -s $ca ]]; then
    echo "cafile=/run/vf-build/ca.crt" >"$npmrc"
    volumes=(-v "$ca:/run/vf-build/ca.crt:ro" -v "$npmrc:/root/.npmrc:ro")
  fi
  buildah bud --quiet --layers --network host "${volumes[@]}" \
    --build-arg "NODE_IMAGE=$(ref_of node)" \
    -t "$(ref_of_product)" -f "$repo/Dockerfile" "$repo" >/dev/null || { rm -f "$npmrc"; return 1; }
  rm -f "$npmrc"
}

build_one() {
  local name=$1 start
  if [[ $name != vendorfetch ]] && have "$name"; then
    echo "images: $(image_ref "$name") cached"
    return 0
  fi
  start=$(date +%s)
  echo "images: building $(image_ref "$name") ..."
  "build_$name"
  save "$name"
  echo "images: built $(image_ref "$name") in $(( $(date +%s) - start )) s"
}

cmd=${1:-build}
case "$cmd" in
  list)
    for n in "${all[@]}"; do
      a=$(archive_of "$n")
      printf '%s\t%s\t%s\t%s\n' "$n" "$(image_ref "$n")" "$a" "$([[ -s $a ]] && echo present || echo missing)"
    done
    ;;
  build)
    shift || true
    command -v buildah >/dev/null || { echo "images: buildah is not installed (apt-get install -y buildah)" >&2; exit 1; }
    names=("$@")
    (( ${#names[@]} )) || names=("${all[@]}")
    for n in "${names[@]}"; do
      # Base images first: each needs debian (and vendorfetch needs node).
      case "$n" in node|redis|mongo) build_one debian ;; vendorfetch) build_one debian; build_one node ;; esac
      build_one "$n"
    done
    ;;
  *) echo "usage: images.sh build [name...] | list" >&2; exit 2 ;;
esac
