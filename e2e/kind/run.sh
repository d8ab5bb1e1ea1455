#!/usr/bin/env bash
# The chart's end-to-end suites (e2e/cluster/) on a throw-away kind cluster, where Docker runs.
# The same suites run on the local one-node cluster with `npm run e2e:cluster`; only creating the
# cluster and loading the image differ (see e2e/cluster/run.sh, provider "kind").
#
#   e2e/kind/run.sh [jest args]      needs Docker (a running engine), kind, kubectl and helm;
#                                    without them it exits 2 and says which is missing
#   VF_CLUSTER_KEEP=1 e2e/kind/run.sh   keep the cluster afterwards
#   VF_KIND_CLUSTER=name                cluster name (default vendorfetch-e2e)
set -euo pipefail
export VF_CLUSTER_PROVIDER=kind
exec "$BASH" "$(dirname "${BASH_SOURCE[0]}")/../cluster/run.sh" "$@"
