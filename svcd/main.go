// Command svcd is Keel's service supervisor (package daemon) as a binary of
// its own, for the host tests. The image carries it inside the multi-call
// system binary (./system).
package main

import (
	"os"

	"github.com/keel-os/keel/svcd/daemon"
)

func main() { os.Exit(daemon.Main(os.Args[1:])) }
