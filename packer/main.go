// Command keel builds Keel systems from YAML specs and boots them.
package main

import "github.com/keel-os/keel/packer/cli"

func main() { cli.Main() }
