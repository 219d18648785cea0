package main

import (
	"context"
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	"github.com/containerd/containerd/v2/cmd/containerd/command"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"

	// The shim's plugin, as its main imports it (containerd's are in plugins.go).
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task/plugin"
)

// isShimPlugin says whether r is one of the plugins the runc shim's main
// registers (its task service). Both containerd and the shim load every
// plugin of the one global registry, and both sets register themselves
// when the binary starts, so each program must first drop the other's: the
// shim fails on the first plugin it cannot load, and containerd must not
// serve the shim's task API.
func isShimPlugin(r *plugin.Registration) bool {
	return r.Type == plugins.TTRPCPlugin && r.ID == "task"
}

// keepPlugins leaves in the registry only the registrations keep accepts,
// in the order containerd would load them.
func keepPlugins(keep func(*plugin.Registration) bool) {
	kept := registry.Graph(func(r *plugin.Registration) bool { return !keep(r) })
	registry.Reset()
	for i := range kept {
		registry.Register(&kept[i])
	}
}

// containerdMain is containerd's own main (cmd/containerd), built with
// the same tags as the standalone daemon (see the Makefile).
func containerdMain([]string) int {
	keepPlugins(func(r *plugin.Registration) bool { return !isShimPlugin(r) })
	if err := command.App().Run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "containerd:", err)
		return 1
	}
	return 0
}

// shimMain is containerd-shim-runc-v2's main. The shim starts its
// long-running copy through os.Executable, which for a hard link is the
// link's own path, so the copy runs as the shim again.
func shimMain([]string) int {
	keepPlugins(isShimPlugin)
	shim.RunShim(context.Background(), manager.NewShimManager("io.containerd.runc.v2"))
	return 0
}
