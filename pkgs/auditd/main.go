// Command runaudit starts Linux's audit daemon the way LinuxKit's auditd
// image does: it loads the rules of /etc/audit/audit.rules into the kernel
// with auditctl -R, then becomes auditd -f (foreground, every record
// written to its output, which svcd keeps as the service's log). Arguments
// given to runaudit replace -f, e.g. -n to stay in the foreground and write
// /var/log/audit/audit.log as auditd.conf says. LinuxKit's image
// runs a shell script under tini for this; Keel's has no shell, so this one
// static program answers to both names (/usr/bin/runaudit.sh, /sbin/tini)
// and a LinuxKit command line such as ["/sbin/tini", "/usr/bin/runaudit.sh"]
// runs unchanged.
package main

import (
	"errors"
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
	argv, audit, err := command(os.Args)
	if err != nil {
		fail(err.Error())
	}
	if audit {
		load := exec.Command(auditctl, "-R", rules)
		load.Stdout, load.Stderr = os.Stdout, os.Stderr
		// A rule the kernel refuses is reported by auditctl; auditd
		// still starts, as LinuxKit's script goes on after auditctl.
		if err := load.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "runaudit: loading %s: %v\n", rules, err)
		} else {
			fmt.Fprintf(os.Stderr, "runaudit: loaded %s\n", rules)
		}
	}
	path := argv[0]
	if filepath.Base(path) == path {
		if path, err = exec.LookPath(path); err != nil {
			fail(err.Error())
		}
	}
	err = syscall.Exec(path, argv, os.Environ())
	fail(fmt.Sprintf("running %s: %v", path, err))
}

// command decides what to run for the command line args (args[0] being
// the name this program was called by): as tini, the program it names,
// unless that is runaudit itself; as runaudit, auditd with runaudit's own
// arguments, or -f without any, after loading the rules (audit true). Keel's svcd and init
// reap orphans already, which is what tini is there for.
func command(args []string) (argv []string, audit bool, err error) {
	if len(args) == 0 {
		return nil, false, errors.New("no program name")
	}
	if filepath.Base(args[0]) == "tini" {
		args = args[1:]
		if len(args) > 0 && args[0] == "--" {
			args = args[1:]
		}
		if len(args) == 0 {
			return nil, false, errors.New("usage: tini PROGRAM [ARG...]")
		}
		if b := filepath.Base(args[0]); b != "runaudit.sh" && b != "runaudit" {
			return args, false, nil
		}
	}
	for _, a := range args[1:] {
		if a == "" {
			return nil, false, errors.New("an empty argument for auditd")
		}
	}
	if len(args) == 1 {
		return []string{auditd, "-f"}, true, nil
	}
	return append([]string{auditd}, args[1:]...), true, nil
}

func fail(msg string) {
	fmt.Fprintf(os.Stderr, "runaudit: %s\n", msg)
	os.Exit(1)
}
