package prepare

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/keel-os/keel/internal/bundle"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// HookName is the name the system binary runs the hook under: runc runs it
// as an OCI createRuntime hook of an onboot or onshutdown container, with
// the container's bundle directory (in the image) as its argument.
const HookName = "svcd-prepare-hook"

// maxState bounds the container state read from runc: a few hundred bytes
// in practice.
const maxState = 1 << 20

// Hook returns the createRuntime hook that applies bundleDir's runtime
// section through the system binary at self.
func Hook(self, bundleDir string) *specs.Hook {
	return &specs.Hook{Path: self, Args: []string{HookName, bundleDir}}
}

// HookMain is the hook: it reads the container's state from stdin and does
// the runtime section's steps that need the container's process (network
// interfaces, namespace binds). An error makes runc fail the container's
// creation, as LinuxKit skips a container it could not prepare.
func HookMain(args []string) int {
	if err := runHook(args, os.Stdin); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", HookName, err)
		return 1
	}
	return 0
}

func runHook(args []string, stdin io.Reader) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: %s BUNDLE (run by runc, with the container's state on stdin)", HookName)
	}
	dir := args[0]
	raw, err := io.ReadAll(io.LimitReader(stdin, maxState+1))
	if err != nil {
		return fmt.Errorf("reading the container state: %w", err)
	}
	if len(raw) > maxState {
		return fmt.Errorf("container state over %d bytes", maxState)
	}
	var st specs.State
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("reading the container state: %w", err)
	}
	if st.Pid <= 0 {
		return fmt.Errorf("container state without a pid")
	}
	k, err := bundle.Read(dir)
	if err != nil {
		return err
	}
	if k.Runtime == nil {
		return nil
	}
	p := &Runtime{R: k.Runtime, Rootfs: filepath.Join(dir, "rootfs")}
	return p.Created(st.Pid)
}
