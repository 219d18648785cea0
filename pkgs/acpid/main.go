// Command acpid powers the machine off cleanly when its power button is
// pressed: what a hypervisor's ACPI shutdown request (QEMU's
// system_powerdown, a cloud's "stop") and a real button send. It takes
// the place and command line of the busybox acpid in LinuxKit's acpid
// image (`/sbin/acpid -f -d`), whose only configured action is the same.
//
// It watches every input device under /dev/input that reports a power
// key (the ACPI button driver's "Power Button"), including devices that
// appear later, and on a press asks init, PID 1, to shut the system down
// and power it off, as /sbin/poweroff does.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	"github.com/keel-os/keel/internal/initctl"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("acpid: ")
	// Busybox's flags in LinuxKit's command line: it stays in the
	// foreground and logs to stderr anyway.
	flag.Bool("f", true, "run in the foreground (always)")
	flag.Bool("d", false, "debug: log to stderr (always)")
	dir := flag.String("dir", "/dev/input", "where the input event devices are (Keel's addition)")
	flag.Parse()
	if flag.NArg() > 0 {
		log.Fatalf("unexpected argument %q: usage: acpid [-f] [-d]", flag.Arg(0))
	}

	presses := make(chan string, 1)
	w := &watcher{dir: *dir, presses: presses, seen: map[string]bool{}}
	go w.run(2 * time.Second)
	dev := <-presses
	log.Printf("power button pressed (%s): powering off", dev)
	if err := initctl.Poweroff(); err != nil {
		log.Fatalf("signalling init (PID 1): %v (the container needs pid: host, as the image's label sets)", err)
	}
	// init stops this service with the others.
	select {}
}

// watcher opens each new event device that has a power key.
type watcher struct {
	dir     string
	presses chan<- string
	mu      sync.Mutex
	seen    map[string]bool // devices opened (or found unfit); "" once told there are none
}

// run scans dir now and every interval: the button's driver may load after
// acpid starts.
func (w *watcher) run(interval time.Duration) {
	for {
		w.scan()
		time.Sleep(interval)
	}
}

func (w *watcher) scan() {
	w.mu.Lock()
	defer w.mu.Unlock()
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		if !w.seen[""] {
			log.Printf("no input devices yet: %v", err)
			w.seen[""] = true
		}
		return
	}
	for _, e := range entries {
		path := w.dir + "/" + e.Name()
		if w.seen[path] || !isEventDevice(e.Name()) {
			continue
		}
		w.seen[path] = true
		f, err := os.Open(path)
		if err != nil {
			log.Printf("%s: %v", path, err)
			continue
		}
		ok, name, err := hasPowerKey(f)
		if err != nil || !ok {
			f.Close()
			continue
		}
		log.Printf("watching %s (%s) for the power button", path, name)
		go func() {
			defer f.Close()
			if err := waitPress(f); err != nil {
				log.Printf("%s: %v", path, err)
				// A device that went away may come back under this name.
				w.mu.Lock()
				delete(w.seen, path)
				w.mu.Unlock()
				return
			}
			w.presses <- fmt.Sprintf("%s, %s", path, name)
		}()
	}
}
