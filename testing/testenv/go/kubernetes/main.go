// One multi-call binary for the Kubernetes programs the test environments run: kube-apiserver
// (the jest testenv) and, for the one-node cluster, kubelet, kube-controller-manager,
// kube-scheduler, kube-proxy and kubectl (so a machine without kubectl gets the same version). One link of the shared code instead of five saves most of a
// cold build. The program is chosen by the name it is called as (a symlink), or by the first
// argument: `kubernetes kubelet --config …`.
//
// It is a wrapper module because k8s.io/kubernetes replaces its ~31 staging modules with local
// folders, so `go install k8s.io/kubernetes/cmd/…@…` refuses to build; go.mod replaces each
// staging module with its published release instead (see gen-gomod.sh). Each entry below is
// upstream's own cmd/<program> main.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata" // for timeZone support in CronJob

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric registration
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	_ "k8s.io/client-go/plugin/pkg/client/auth" // kubectl's auth plugins (oidc, exec)
)

var programs = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kube-proxy":              proxy.NewProxyCommand,
	"kubelet":                 kubelet.NewKubeletCommand,
}

func main() {
	name := filepath.Base(os.Args[0])
	if _, ok := programs[name]; !ok && name != "kubectl" && len(os.Args) > 1 {
		// Called as `kubernetes <program> …`: drop the binary's own name.
		name = os.Args[1]
		os.Args = os.Args[1:]
	}
	if name == "kubectl" {
		// upstream cmd/kubectl: errors are printed by CheckErr, not by cobra
		if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
		return
	}
	newCommand, ok := programs[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "usage: kubernetes kube-apiserver|kube-controller-manager|kube-scheduler|kube-proxy|kubelet|kubectl [flags]\n")
		os.Exit(2)
	}
	os.Exit(cli.Run(newCommand()))
}
