// Command pause is the sandbox ("pause") container of a Kubernetes pod: the
// first process of the pod's namespaces, which holds them while the pod's
// containers come and go. It sleeps until SIGINT or SIGTERM, then exits 0,
// and, as PID 1 of a pod that shares its PID namespace, reaps the orphans
// that are reparented to it so they do not stay zombies.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is what -v prints; kubeadm names the image registry.k8s.io/pause
// with the same version.
const version = "3.10.2"

func main() {
	if len(os.Args) > 1 {
		if os.Args[1] == "-v" {
			fmt.Println("pause.go version:", version)
			return
		}
		fmt.Fprintf(os.Stderr, "pause: unknown argument %q: it takes none, or -v for its version\n", os.Args[1])
		os.Exit(2)
	}
	sig := make(chan os.Signal, 8)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	// Kubernetes' own pause exits 0 on SIGINT and SIGTERM: a normal stop
	// of the pod.
	wait(sig)
}

// wait reaps children on each SIGCHLD and returns on any other signal.
func wait(sig <-chan os.Signal) {
	for s := range sig {
		if s != syscall.SIGCHLD {
			return
		}
		reap()
	}
}

// reap collects every child that has exited, without blocking, and
// returns their pids. Signals coalesce, so one SIGCHLD may stand for
// several exits.
func reap() []int {
	var pids []int
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return pids
		}
		pids = append(pids, pid)
	}
}
