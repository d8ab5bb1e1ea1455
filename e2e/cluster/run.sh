#!/usr/bin/env bash
# The suites that need a real cluster (e2e/cluster/*.test.ts), on one of two providers. Only two
# steps differ by provider: bringing the cluster up (and down), and loading the product image.
# Everything else is the same jest suites against the KUBECONFIG the provider hands over.
#
#   npm run e2e:cluster [-- jest args]            provider "local": the one-node cluster built here
#   npm run bench:cluster                         the same cluster, bench/cluster.ts instead of jest
#   VF_CLUSTER_PROVIDER=kind e2e/cluster/run.sh   provider "kind": a kind cluster (needs Docker)
#   e2e/cluster/run.sh --if-possible              as `npm test` calls it: where the provider cannot
#                                                 run (no root, no containerd), say why and exit 0
#
# Settings (environment):
#   VF_CLUSTER_PROVIDER  local (default) | kind
#   VF_CLUSTER_KEEP=1    keep a cluster this run started (local: `npm run cluster -- down` later)
#   VF_KIND_CLUSTER      kind cluster name (default vendorfetch-e2e)
# A local cluster that is already up (`npm run cluster -- up`) is reused and left running.
# Exit codes: 0 passed, 1 failed, 2 cannot run here (says why).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
provider=${VF_CLUSTER_PROVIDER:-local}
started=""

say() { printf '\ne2e:cluster [%s] %s\n' "$provider" "$*" >&2; }
if_possible=""
[[ ${1:-} == --if-possible ]] && { if_possible=1; shift; }
# --bench: run bench/cluster.ts (npm run bench:cluster) instead of the suites.
bench=""
[[ ${1:-} == --bench ]] && { bench=1; shift; }
cannot() {
  if [[ -n $if_possible ]]; then
    printf '\ne2e:cluster [%s]: SKIPPED, cannot run here: %s\n' "$provider" "$*" >&2
    exit 0
  fi
  printf 'e2e:cluster [%s]: cannot run here: %s\n' "$provider" "$*" >&2
  exit 2
}

# --- provider: local (the one-node cluster of testing/testenv/cluster) ---------------------------
local_check() {
  [[ $(id -u) == 0 ]] || cannot "the local node needs root (network namespaces, iptables, mounts)"
  local missing=()
  for tool in containerd runc ctr buildah debootstrap iptables ip openssl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
  ((${#missing[@]} == 0)) || cannot "missing ${missing[*]} (apt-get install -y containerd runc buildah debootstrap iptables containernetworking-plugins)"
}
local_up() {
  local exports
  if exports=$("$node" testing/testenv/cluster/run.mjs status 2>/dev/null); then
    say "reusing the running cluster"
  else
    exports=$("$node" testing/testenv/cluster/run.mjs up)
    started=1
  fi
  eval "$exports"
  export VF_CLUSTER_IMAGE=localhost/vendorfetch:dev
  # No registry: the chart's dev stores use the images images.sh built.
  VF_CLUSTER_REDIS_IMAGE=$(bash testing/testenv/images.sh list | awk -F'\t' '$1 == "redis" { print $2 }')
  VF_CLUSTER_MONGO_IMAGE=$(bash testing/testenv/images.sh list | awk -F'\t' '$1 == "mongo" { print $2 }')
  export VF_CLUSTER_REDIS_IMAGE VF_CLUSTER_MONGO_IMAGE
}
local_load_image() {
  bash testing/testenv/images.sh build vendorfetch
  "$node" testing/testenv/cluster/run.mjs load
}
local_down() { "$node" testing/testenv/cluster/run.mjs down; }

# --- provider: kind --------------------------------------------------------------------------
kind_name=${VF_KIND_CLUSTER:-vendorfetch-e2e}
kind_check() {
  local missing=()
  for tool in docker kind kubectl helm; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  ((${#missing[@]} == 0)) || cannot "missing ${missing[*]} (needs Docker, kind, kubectl and helm on PATH)"
  docker info >/dev/null 2>&1 || cannot "no Docker engine answers (docker info failed); kind needs one"
}
kind_up() {
  if ! kind get clusters 2>/dev/null | grep -qx "$kind_name"; then
    kind create cluster --name "$kind_name" --wait 120s
    started=1
  fi
  local dir
  dir=$(mktemp -d)
  kind get kubeconfig --name "$kind_name" >"$dir/kubeconfig"
  ln -s "$(command -v kubectl)" "$dir/kubectl"
  ln -s "$(command -v helm)" "$dir/helm"
  export KUBECONFIG=$dir/kubeconfig VF_CLUSTER_BIN=$dir VF_CLUSTER_IMAGE=vendorfetch:e2e
}
kind_load_image() {
  docker build -t vendorfetch:e2e .
  kind load docker-image vendorfetch:e2e --name "$kind_name"
}
kind_down() { kind delete cluster --name "$kind_name"; }

case "$provider" in local | kind) ;; *) echo "VF_CLUSTER_PROVIDER must be local or kind, not $provider" >&2; exit 2 ;; esac

"${provider}_check"
[[ -d node_modules ]] || npm install --no-audit --no-fund
# Node 24 from the project (the machine's own node may be older), also when run outside npm.
node=$root/node_modules/.bin/node
finish() {
  local code=$?
  if [[ -n $started && ${VF_CLUSTER_KEEP:-} != 1 ]]; then
    say "taking the cluster down"
    "${provider}_down" || code=1
  elif [[ -n $started ]]; then
    say "keeping the cluster (VF_CLUSTER_KEEP=1)"
  fi
  exit "$code"
}
trap finish EXIT
t0=$(date +%s)
say "bringing the cluster up"
"${provider}_up"
say "cluster ready after $(( $(date +%s) - t0 )) s; loading the product image"
"${provider}_load_image"
if [[ -n $bench ]]; then
  say "running the benchmark"
  [[ -f dist/bench/cluster.js ]] || npm run build
  "$node" dist/bench/cluster.js
else
  say "running the suites"
  "$node" --experimental-vm-modules node_modules/jest/bin/jest.js -c jest.cluster.config.js --runInBand "$@"
fi
say "passed in $(( $(date +%s) - t0 )) s"
