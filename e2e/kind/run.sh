#!/usr/bin/env bash
# End-to-end on a throw-away kind cluster:
#   create the cluster → build the image and load it into kind → helm install the chart with the
#   dev Redis/MongoDB and the vendor mocks → apply the example VendorPools → submit a sync and an
#   async job through the api and wait for `complete` → raise the lag and watch the sync pool's
#   workers scale up → delete the cluster.
#
#   e2e/kind/run.sh              (from the repository root or anywhere)
#
# Needs Docker (a running engine), kind, kubectl, helm and curl. Without them it exits 2 and says
# which is missing. Settings (environment):
#   VF_KIND_CLUSTER  cluster name (default vendorfetch-e2e; deleted at the end, also on failure)
#   VF_KIND_KEEP=1   keep the cluster afterwards (for a look around)
#   VF_KIND_IMAGE    image name:tag built and loaded (default vendorfetch:e2e)
#   VF_KIND_PORT     local port of the api port-forward (default 18080)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cluster=${VF_KIND_CLUSTER:-vendorfetch-e2e}
image=${VF_KIND_IMAGE:-vendorfetch:e2e}
port=${VF_KIND_PORT:-18080}
ns=vendorfetch
release=vendorfetch

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'e2e/kind: %s\n' "$*" >&2; exit 1; }

# --- prerequisites (exit 2: cannot run here, as opposed to 1: ran and failed) ------------------
missing=()
for tool in docker kind kubectl helm curl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "e2e/kind: cannot run: missing ${missing[*]} (needs Docker, kind, kubectl, helm and curl on PATH)" >&2
  exit 2
fi
if ! docker info >/dev/null 2>&1; then
  echo "e2e/kind: cannot run: the docker CLI is there but no Docker engine answers (docker info failed); kind needs a running Docker" >&2
  exit 2
fi

pf_pid=""
cleanup() {
  local code=$?
  [[ -n "$pf_pid" ]] && kill "$pf_pid" 2>/dev/null || true
  if ((code != 0)); then
    echo "e2e/kind: FAILED (exit $code); state of namespace $ns:" >&2
    kubectl --context "kind-$cluster" -n "$ns" get all,vendorpools 2>/dev/null >&2 || true
    kubectl --context "kind-$cluster" -n "$ns" logs deploy/$release-controller --tail=50 2>/dev/null >&2 || true
  fi
  if [[ "${VF_KIND_KEEP:-}" == 1 ]]; then
    echo "e2e/kind: keeping cluster $cluster (kind delete cluster --name $cluster)"
  else
    say "deleting kind cluster $cluster"
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  fi
  exit "$code"
}
trap cleanup EXIT

k() { kubectl --context "kind-$cluster" -n "$ns" "$@"; }

say "creating kind cluster $cluster"
kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
kind create cluster --name "$cluster" --wait 180s

say "building $image and loading it into kind"
docker build -t "$image" "$root"
kind load docker-image "$image" --name "$cluster"

say "installing the chart (dev Redis/MongoDB, mocks)"
helm install "$release" "$root/charts/vendorfetch" \
  --kube-context "kind-$cluster" --namespace "$ns" --create-namespace \
  --set image.repository="${image%:*}" --set image.tag="${image##*:}" --set image.pullPolicy=Never \
  --set dev.redis.enabled=true --set dev.mongodb.enabled=true --set mocks.enabled=true \
  --set controller.lagPollMs=2000 \
  --wait --timeout 5m

say "applying the example VendorPools"
k apply -k "$root/manifests/examples/"
k wait vendorpool --all --for=condition=Ready --timeout=180s
k get vendorpools

say "port-forwarding the api to 127.0.0.1:$port"
k port-forward "svc/$release-api" "$port:8080" >/dev/null 2>&1 &
pf_pid=$!
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || die "the api does not answer on the port-forward"

submit() { # vendor → request_id
  curl -fsS -X POST "http://127.0.0.1:$port/jobs" -H 'content-type: application/json' \
    -d "{\"vendor\": \"$1\", \"payload\": {\"company\": \"acme\", \"n\": ${2:-0}}}" |
    sed -n 's/.*"request_id":"\([^"]*\)".*/\1/p'
}
wait_complete() { # request_id timeout_s
  local status=""
  for _ in $(seq 1 $(($2 * 2))); do
    status=$(curl -fsS "http://127.0.0.1:$port/jobs/$1" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')
    [[ "$status" == complete ]] && return 0
    [[ "$status" == failed ]] && die "job $1 failed: $(curl -fsS "http://127.0.0.1:$port/jobs/$1")"
    sleep 0.5
  done
  die "job $1 not complete after $2 s (status: ${status:-?})"
}

for vendor in sync async; do
  say "submitting a $vendor job"
  id=$(submit "$vendor")
  [[ -n "$id" ]] || die "POST /jobs for $vendor returned no request_id"
  wait_complete "$id" 120
  echo "$vendor job $id: complete"
  curl -fsS "http://127.0.0.1:$port/jobs/$id"; echo
done

say "raising the sync pool's lag: slow mock vendor, 800 jobs"
k exec "deploy/$release-mocks" -- node -e '
  fetch("http://127.0.0.1:9101/_config", {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify({latencyMs: 1500})})
    .then((r) => { if (!r.ok) process.exit(1); })'
before=$(k get deploy sync-vendors-workers -o jsonpath='{.spec.replicas}')
seq 1 800 | xargs -P 16 -I{} curl -fsS -o /dev/null -X POST "http://127.0.0.1:$port/jobs" \
  -H 'content-type: application/json' -d '{"vendor": "sync", "payload": {"n": {}}}'
grown=""
for _ in $(seq 1 60); do
  now=$(k get deploy sync-vendors-workers -o jsonpath='{.spec.replicas}')
  lag=$(k get vendorpool sync-vendors -o jsonpath='{.status.lag}')
  echo "  lag=${lag:-?} replicas=$now"
  if ((now > before)); then grown=$now; break; fi
  sleep 2
done
[[ -n "$grown" ]] || die "the sync pool did not scale up from $before replicas while lagging"
echo "sync workers scaled from $before to $grown replicas"

say "e2e on kind: PASSED"
