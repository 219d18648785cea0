// Command svcd is Keel's service supervisor (package daemon) as a binary of
// its own, for the host tests. The image carries it inside the multi-call
// system binary (./multicall).
package main

import (
	"os"
	"path/filepath"

	"github.com/keel-os/keel/svcd/daemon"
	"github.com/keel-os/keel/svcd/prepare"
)

func main() {
	// runc runs svcd's own executable as the runtime hook of an onboot
	// container (prepare.Hook), under the hook's name.
	if filepath.Base(os.Args[0]) == prepare.HookName {
		os.Exit(prepare.HookMain(os.Args[1:]))
	}
	os.Exit(daemon.Main(os.Args[1:]))
}
