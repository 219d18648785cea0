// Command getty puts a login on every console named on the kernel command
// line, the way LinuxKit's getty package does: with INSECURE=true a root shell
// starts directly; otherwise busybox's getty asks for a login, checked against
// the system's /etc/getty.shadow when it has one. Each console's session is
// started again when it ends.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Consoles returns the device names of the console= entries of a kernel
// command line, in order and without duplicates ("ttyS0,115200n8" → "ttyS0").
func Consoles(cmdline string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.Fields(cmdline) {
		v, ok := strings.CutPrefix(f, "console=")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(v, ",")
		if name == "" || seen[name] || strings.ContainsAny(name, "/.") {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	return out
}

// Session returns the program and arguments run on one console.
func Session(tty string, insecure bool) []string {
	if insecure {
		return []string{"/bin/busybox", "sh", "-l"}
	}
	return []string{"/bin/busybox", "getty", "-L", "115200", tty, "vt100"}
}

func serve(tty string, insecure bool) {
	dev := filepath.Join("/dev", tty)
	for delay := time.Second; ; {
		start := time.Now()
		if err := run(dev, Session(tty, insecure)); err != nil {
			fmt.Fprintf(os.Stderr, "getty: %s: %v\n", tty, err)
		}
		// A session that ends at once (no such device, a broken shell) must
		// not spin: back off, but reset after a real session.
		if time.Since(start) > time.Minute {
			delay = time.Second
		} else if delay < time.Minute {
			delay *= 2
		}
		time.Sleep(delay)
	}
}

func run(dev string, argv []string) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, f
	cmd.Env = append(os.Environ(), "HOME=/root", "TERM=vt100", "PS1=\\h:\\w# ")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	return cmd.Run()
}

func main() {
	insecure := os.Getenv("INSECURE") == "true"
	if !insecure {
		// As in LinuxKit: a system that ships /etc/getty.shadow sets root's
		// password. The system's /etc is bound at /hostroot/etc.
		if b, err := os.ReadFile("/hostroot/etc/getty.shadow"); err == nil {
			if err := os.WriteFile("/etc/shadow", b, 0o600); err != nil {
				fmt.Fprintf(os.Stderr, "getty: installing /etc/getty.shadow: %v\n", err)
			}
		}
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		fmt.Fprintf(os.Stderr, "getty: %v\n", err)
		os.Exit(1)
	}
	ttys := Consoles(string(cmdline))
	if len(ttys) == 0 {
		ttys = []string{"console"}
	}
	fmt.Printf("getty: consoles %s (insecure=%v)\n", strings.Join(ttys, " "), insecure)
	// Zombies of sessions' children are ours to reap when we run as the
	// container's PID 1; os/exec reaps only the direct child.
	signal.Ignore(syscall.SIGHUP)
	var wg sync.WaitGroup
	for _, t := range ttys {
		wg.Add(1)
		go func() { defer wg.Done(); serve(t, insecure) }()
	}
	wg.Wait()
}
