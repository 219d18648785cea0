// Command trim-after-delete runs a command (fstrim, by default) a while
// after Docker deletes an image, with the path and command line of
// LinuxKit's trim-after-delete package:
//
//	trim-after-delete [--delay 10s] -- /sbin/fstrim /var/lib/docker
//
// It follows Docker's event stream on /var/run/docker.sock and, after an
// image delete event, runs the command within --delay; deletes that come
// while it waits are covered by the same run, so a burst of deletes costs
// one TRIM. A delete that comes while the command runs gets a run of its
// own afterwards. When Docker is not there (yet), it retries every second.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const socket = "/var/run/docker.sock"

func main() {
	if filepath.Base(os.Args[0]) == "fstrim" {
		fstrimMain()
		return
	}
	log.SetFlags(0)
	log.SetPrefix("trim-after-delete: ")
	delay := flag.Duration("delay", 10*time.Second, "the longest wait after an image delete before the command runs")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s [--delay 10s] -- COMMAND [ARG...]\n", os.Args[0])
		fmt.Fprintf(os.Stderr, "runs COMMAND at most --delay after Docker deletes an image, e.g. -- /sbin/fstrim /var/lib/docker\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	cmd := flag.Args()
	if len(cmd) == 0 {
		log.Fatal("no command to run: give one after --, e.g. trim-after-delete -- /sbin/fstrim /var/lib/docker")
	}
	if *delay <= 0 {
		log.Fatalf("--delay %s: want a positive duration such as 10s", *delay)
	}
	line := strings.Join(cmd, " ")
	log.Printf("will run %s at most %s after Docker deletes an image", line, *delay)
	a := newDelayed(*delay, time.After, func() {
		log.Printf("running %s", line)
		out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
		if s := strings.TrimSpace(string(out)); s != "" {
			log.Print(s)
		}
		if err != nil {
			log.Printf("%s failed: %v", line, err)
		}
	})
	watch(context.Background(), dockerEvents(socket), a.Trigger, time.Second)
}

// delayed runs f at most d after each Trigger, once for all the triggers
// that came while it waited.
type delayed struct {
	c chan struct{}
}

// newDelayed starts the goroutine that waits and runs f; after is
// time.After (a fake in tests).
func newDelayed(d time.Duration, after func(time.Duration) <-chan time.Time, f func()) *delayed {
	a := &delayed{c: make(chan struct{}, 1)}
	go func() {
		for range a.c {
			<-after(d)
			// Triggers while waiting are covered by this run.
			select {
			case <-a.c:
			default:
			}
			f()
		}
	}()
	return a
}

// Trigger asks for one more run of f, at most d from now; it never blocks.
func (a *delayed) Trigger() {
	select {
	case a.c <- struct{}{}:
	default: // a run is already pending
	}
}
