// Command runaudit starts Linux's audit daemon the way LinuxKit's auditd
// image does: it loads the rules of /etc/audit/audit.rules into the kernel
// with auditctl -R, then becomes auditd -f (foreground). LinuxKit's image
// runs a shell script under tini for this; Keel's has no shell, so this one
// static program answers to both names (/usr/bin/runaudit.sh, /sbin/tini)
// and a LinuxKit command line such as ["/sbin/tini", "/usr/bin/runaudit.sh"]
// runs unchanged.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

const (
	auditctl = "/sbin/auditctl"
	auditd   = "/sbin/auditd"
	rules    = "/etc/audit/audit.rules"
)

func main() {
	args := os.Args
	// As tini: run the named program in its place. Keel's svcd and init
	// reap orphans already, which is what tini is there for.
	if filepath.Base(args[0]) == "tini" {
		args = args[1:]
		if len(args) > 0 && args[0] == "--" {
			args = args[1:]
		}
		if len(args) == 0 {
			fail("usage: tini PROGRAM [ARG...]")
		}
		if filepath.Base(args[0]) != "runaudit.sh" && filepath.Base(args[0]) != "runaudit" {
			exec1(args)
		}
	}
	argv, err := plan(args[1:])
	if err != nil {
		fail(err.Error())
	}
	load := exec.Command(auditctl, "-R", rules)
	load.Stdout, load.Stderr = os.Stdout, os.Stderr
	// A rule the kernel refuses is reported by auditctl; auditd still
	// starts, as LinuxKit's script goes on after a failed auditctl.
	if err := load.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "runaudit: loading %s: %v\n", rules, err)
	} else {
		fmt.Fprintf(os.Stderr, "runaudit: loaded %s\n", rules)
	}
	exec1(argv)
}

// plan returns auditd's command line: -f (foreground, LinuxKit's) and any
// further arguments given to runaudit.
func plan(extra []string) ([]string, error) {
	for _, a := range extra {
		if a == "" {
			return nil, fmt.Errorf("an empty argument for auditd")
		}
	}
	return append([]string{auditd, "-f"}, extra...), nil
}

func exec1(argv []string) {
	path := argv[0]
	if filepath.Base(path) == path {
		p, err := exec.LookPath(path)
		if err != nil {
			fail(err.Error())
		}
		path = p
	}
	err := syscall.Exec(path, argv, os.Environ())
	fail(fmt.Sprintf("running %s: %v", path, err))
}

func fail(msg string) {
	fmt.Fprintf(os.Stderr, "runaudit: %s\n", msg)
	os.Exit(1)
}
