// Wrapper so kube-apiserver can be built from the module proxy: k8s.io/kubernetes replaces its
// ~31 staging modules with local folders, so `go install k8s.io/kubernetes/cmd/kube-apiserver@…`
// refuses to build. This module requires k8s.io/kubernetes and replaces each staging module with
// its published release (see gen-gomod.sh). The body is upstream's cmd/kube-apiserver main.
package main

import (
	"os"
	_ "time/tzdata" // for timeZone support in CronJob

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric registration
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
