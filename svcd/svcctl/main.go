// Command svcctl is svcd's client (package cli) as a binary of its own. The
// image carries it inside the multi-call system binary (./system).
package main

import (
	"os"

	"github.com/keel-os/keel/svcd/svcctl/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
