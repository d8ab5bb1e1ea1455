#!/usr/bin/env bash
# Builds the real test servers (etcd, the Kubernetes programs, FerretDB, helm, CoreDNS, pause)
# and the checkers the suites run (actionlint for the CI workflow, promtool for the chart's
# alerting rules) from the Go wrapper modules under go/, and caches each binary by version so a warm run costs nothing:
#   <cache>/<name>-<version>/<name>     cache = $VF_TESTENV_CACHE or ~/.cache/vendorfetch/bin
#
#   build.sh [build] [name...]   build what is missing (all of them by default), printing progress
#   build.sh paths               print "name<TAB>version<TAB>binary<TAB>present|missing"
#
# The version is read from the wrapper's go.mod, so bumping a version there (and go.sum) is what
# triggers a rebuild. Builds run one at a time under `nice` (shared 2-core machines) and record
# wall time and peak memory in <cache>/<name>-<version>/build-stats.txt.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${VF_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vendorfetch/bin}
all=(etcd kubernetes ferretdb helm coredns pause actionlint promtool)

# The module whose version names each binary.
main_module() {
  case "$1" in
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    kubernetes) echo k8s.io/kubernetes ;;
    coredns) echo github.com/coredns/coredns ;;
    pause) echo pause ;;
    ferretdb) echo github.com/FerretDB/FerretDB ;;
    helm) echo helm.sh/helm/v3 ;;
    actionlint) echo github.com/rhysd/actionlint ;;
    promtool) echo github.com/prometheus/prometheus ;;
    *) echo "unknown component: $1 (known: ${all[*]})" >&2; return 1 ;;
  esac
}

version_of() {
  local mod
  # pause has no upstream module: its version is a digest of its own source.
  [[ $1 == pause ]] && { echo "src-$(sha256sum "$here/go/pause/main.go" | cut -c1-12)"; return; }
  mod=$(main_module "$1")
  local v
  v=$(awk -v m="$mod" '($1 == m || ($1 == "require" && $2 == m)) { print ($1 == m ? $2 : $3); exit }' "$here/go/$1/go.mod")
  # FerretDB's wrapper sets server options (the SQLite URL) in its own main.go: a change there
  # must rebuild the cached binary too.
  [[ $1 == ferretdb ]] && v="$v-$(sha256sum "$here/go/ferretdb/main.go" | cut -c1-8)"
  echo "$v"
}

binary_of() { echo "$cache/$1-$(version_of "$1")/$1"; }

# What the linker must stamp into each binary so it reports its real version.
ldflags_of() {
  local v
  v=$(version_of "$1")
  case "$1" in
    kubernetes)
      local minor=${v#v1.}; minor=${minor%%.*}
      local pkg=k8s.io/component-base/version
      echo "-s -w -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor" \
        "-X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z" \
        "-X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1" \
        "-X k8s.io/client-go/pkg/version.gitMinor=$minor"
      ;;
    helm)
      # helm asks for the cluster's version only if it has one; for lint/template it uses these.
      local kv
      kv=$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$here/go/helm/go.mod")
      local kminor=${kv#v0.}; kminor=${kminor%%.*}
      echo "-s -w -X helm.sh/helm/v3/internal/version.version=$v -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
        "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$kminor" \
        "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kminor"
      ;;
    coredns)
      echo "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$(version_of coredns)"
      ;;
    actionlint)
      echo "-s -w -X github.com/rhysd/actionlint.version=$v"
      ;;
    promtool)
      # The module's v0.3MM.P is Prometheus 3.MM.P: `promtool --version` reports the latter.
      local n=${v#v0.} mm
      mm=${n%%.*}
      local pkg=github.com/prometheus/common/version
      echo "-s -w -X $pkg.Version=${mm:0:1}.$((10#${mm:1})).${n#*.} -X $pkg.Branch=release -X $pkg.Revision=module-$v"
      ;;
    *) echo "-s -w" ;;
  esac
}

# Package to build inside the wrapper module ("." = its own main.go).
package_of() {
  case "$1" in
    helm) echo helm.sh/helm/v3/cmd/helm ;;
    actionlint) echo github.com/rhysd/actionlint/cmd/actionlint ;;
    promtool) echo github.com/prometheus/prometheus/cmd/promtool ;;
    *) echo . ;;
  esac
}

# Sum the RSS (KiB) of a process and all its descendants.
tree_rss() {
  ps -eo pid=,ppid=,rss= | awk -v root="$1" '
    { parent[$1] = $2; rss[$1] = $3 }
    END {
      total = 0
      for (p in parent) { q = p; while (q != "" && q != 0 && q != root) q = parent[q]; if (q == root) total += rss[p] }
      print total
    }'
}

build_one() {
  local name=$1 version bin dir tmp stats start
  version=$(version_of "$name")
  [[ -n $version ]] || { echo "testenv: cannot read the $name version from go/$name/go.mod" >&2; return 1; }
  bin=$(binary_of "$name")
  dir=$(dirname "$bin")
  if [[ -x $bin ]]; then
    echo "testenv: $name $version cached ($bin)"
    return 0
  fi
  mkdir -p "$dir"
  # One builder per binary even if two test runs start at once.
  exec 9>"$dir/.lock"
  flock 9
  if [[ -x $bin ]]; then echo "testenv: $name $version cached ($bin)"; exec 9>&-; return 0; fi

  command -v go >/dev/null || {
    echo "testenv: $name $version is not built and the Go toolchain (go >= 1.24) is not on PATH" >&2
    exec 9>&-
    return 1
  }
  echo "testenv: building $name $version (cold builds take minutes; kubernetes 10-30, promtool 5-15) ..."
  tmp="$dir/.$name.tmp.$$"
  stats="$dir/build-stats.txt"
  start=$(date +%s)
  (
    cd "$here/go/$name"
    # shellcheck disable=SC2046
    # pause runs alone in a scratch image: no libc to link against.
    [[ $name == pause ]] && export CGO_ENABLED=0
    exec nice -n 10 /usr/bin/time -v -o "$stats.time" \
      go build -trimpath -mod=readonly -ldflags "$(ldflags_of "$name")" -o "$tmp" "$(package_of "$name")"
  ) &
  local pid=$! peak=0 rss elapsed next=30
  while kill -0 "$pid" 2>/dev/null; do
    rss=$(tree_rss "$pid")
    (( rss > peak )) && peak=$rss
    elapsed=$(( $(date +%s) - start ))
    if (( elapsed >= next )); then
      next=$(( next + 30 ))
      printf 'testenv:   %s still building: %dm%02ds, build tree %d MiB now, peak %d MiB\n' \
        "$name" $((elapsed / 60)) $((elapsed % 60)) $((rss / 1024)) $((peak / 1024))
    fi
    sleep 1
  done
  if ! wait "$pid"; then
    rm -f "$tmp"
    exec 9>&-
    echo "testenv: building $name $version FAILED (see messages above)" >&2
    return 1
  fi
  mv "$tmp" "$bin"
  elapsed=$(( $(date +%s) - start ))
  {
    echo "name=$name"
    echo "version=$version"
    echo "go=$(go env GOVERSION)"
    echo "wall_seconds=$elapsed"
    echo "peak_tree_rss_mib=$((peak / 1024))"
    echo "max_single_process_rss_mib=$(( $(awk -F': ' '/Maximum resident set size/ { print $2 }' "$stats.time") / 1024 ))"
    echo "built_at=$(date -u +%FT%TZ)"
  } >"$stats"
  exec 9>&-
  printf 'testenv: built %s %s in %dm%02ds (peak %d MiB for the whole build) -> %s\n' \
    "$name" "$version" $((elapsed / 60)) $((elapsed % 60)) $((peak / 1024)) "$bin"
}

cmd=${1:-build}
case "$cmd" in
  paths)
    for n in "${all[@]}"; do
      b=$(binary_of "$n")
      printf '%s\t%s\t%s\t%s\n' "$n" "$(version_of "$n")" "$b" "$([[ -x $b ]] && echo present || echo missing)"
    done
    ;;
  build)
    shift || true
    names=("$@")
    (( ${#names[@]} )) || names=("${all[@]}")
    for n in "${names[@]}"; do main_module "$n" >/dev/null; build_one "$n"; done
    ;;
  *)
    # Bare component names mean "build these".
    for n in "$@"; do main_module "$n" >/dev/null; build_one "$n"; done
    ;;
esac
