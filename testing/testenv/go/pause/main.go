// The pod sandbox ("pause") image's only program: it holds the pod's namespaces open, reaps the
// zombies that PID-namespace sharing hands it, and exits on SIGINT/SIGTERM. No registry can be
// reached here, so the image is built from this (see testing/testenv/images.sh).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
