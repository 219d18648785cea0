// Command confinecheck is a test-only service that runs with Keel's default
// confinement (no capabilities, a read-only root, no bind of /run) and
// tries what a compromised service would: load a kernel module, mount,
// reach svcd's socket, write the root and /proc/sys, read firmware tables,
// use a syscall only seccomp forbids. It prints one line per probe,
// "CONFINE ok NAME: ..." when the system refused as it should and
// "CONFINE FAIL NAME: ..." when it did not, then "CONFINE-END".
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// probe is one thing the container must not be able to do.
type probe struct {
	name string
	// try returns nil when the attempt was refused the expected way,
	// otherwise what happened instead.
	try func() error
}

func main() {
	probes := []probe{
		{"module", func() error {
			f, err := os.Open("/proc/self/exe")
			if err != nil {
				return err
			}
			defer f.Close()
			return want(unix.FinitModule(int(f.Fd()), "", 0), unix.EPERM)
		}},
		{"mount", func() error { return want(unix.Mount("none", "/", "tmpfs", 0, ""), unix.EPERM) }},
		{"svcd-socket", func() error {
			c, err := net.Dial("unix", "/run/svcd/svcd.sock")
			if err == nil {
				c.Close()
			}
			return want(err, unix.ENOENT)
		}},
		{"readonly-root", func() error { return want(os.WriteFile("/probe", []byte("x"), 0o644), unix.EROFS) }},
		{"proc-sys", func() error {
			return want(os.WriteFile("/proc/sys/kernel/domainname", []byte("x"), 0o644), unix.EROFS)
		}},
		{"firmware-masked", func() error {
			entries, err := os.ReadDir("/sys/firmware")
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			if len(entries) > 0 {
				return fmt.Errorf("/sys/firmware lists %d entries, want none (masked)", len(entries))
			}
			return nil
		}},
		{"seccomp-keyctl", func() error {
			_, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 1, 0, 0)
			return want(err, unix.EPERM)
		}},
		{"status", statusProbe},
	}
	for _, p := range probes {
		if err := p.try(); err != nil {
			fmt.Printf("CONFINE FAIL %s: %v\n", p.name, err)
		} else {
			fmt.Printf("CONFINE ok %s\n", p.name)
		}
	}
	fmt.Println("CONFINE-END")
}

// statusProbe reads the kernel's view of the process: seccomp filtering,
// no-new-privileges and an empty effective capability set.
func statusProbe() error {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	return checkStatus(string(raw))
}

// checkStatus checks /proc/PID/status content.
func checkStatus(status string) error {
	want := map[string]string{"Seccomp": "2", "NoNewPrivs": "1", "CapEff": "0000000000000000"}
	var bad []string
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if w, checked := want[k]; checked {
			if got := strings.TrimSpace(v); got != w {
				bad = append(bad, fmt.Sprintf("%s is %s, want %s", k, got, w))
			}
			delete(want, k)
		}
	}
	for k := range want {
		bad = append(bad, k+" missing")
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// want turns "refused with errno" into nil and anything else into an error.
func want(err error, errno unix.Errno) error {
	if errors.Is(err, errno) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("allowed, want %v", errno)
	}
	return fmt.Errorf("got %v, want %v", err, errno)
}
