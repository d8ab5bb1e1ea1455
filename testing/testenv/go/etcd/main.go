// Wrapper so etcd can be built with `go build`: the etcd server module has `replace` lines,
// which make `go install go.etcd.io/etcd/server/v3@…` refuse to build it directly.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
