// Command svcdcheck is a test-only program playing every role of the svcd
// boot test: "flaky" crashes on its first run and then stays up, "db"
// becomes healthy (its /ready file appears) a second after it starts,
// "app" depends on db, and "check" waits until the real svcctl shows all
// that, checks the start order from `svcctl boot`, prints what svcctl said
// between markers the host test reads, and powers the machine off.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/keel-os/keel/qemu-test/guest"
	"github.com/keel-os/keel/svcd/api"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Println("KEEL-SVCDCHECK-FAIL usage: svcdcheck flaky|db|app|check")
		os.Exit(2)
	}
	stop := guest.CatchStop()
	switch os.Args[1] {
	case "flaky":
		flaky("/crashed-once")
	case "db":
		_ = os.Remove("/ready")
		time.Sleep(time.Second)
		if err := os.WriteFile("/ready", []byte("ok\n"), 0o644); err != nil {
			fmt.Println("KEEL-SVCDCHECK-FAIL db:", err)
		}
		fmt.Println("db ready")
	case "app":
		fmt.Println("app up")
	case "check":
		if code := check(); code != 0 {
			os.Exit(code)
		}
	default:
		fmt.Printf("KEEL-SVCDCHECK-FAIL unknown role %q\n", os.Args[1])
		os.Exit(2)
	}
	// Stay up until svcd stops the service. (A bare select{} with no other
	// goroutine is a deadlock the Go runtime kills.)
	<-stop
}

// flaky exits 1 the first time (its marker lives in the container's root,
// which outlives a restart) and stays up after.
func flaky(marker string) {
	if _, err := os.Stat(marker); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			fmt.Println("KEEL-SVCDCHECK-FAIL flaky cannot write its marker:", err)
			return
		}
		fmt.Println("flaky crashing once")
		os.Exit(1)
	}
	fmt.Println("flaky up for good")
}

// Ready says whether the list shows flaky restarted and running, db
// healthy and app running, and if not, what is missing.
func Ready(cs []api.Container) (bool, string) {
	rows := map[string]api.Container{}
	for _, c := range cs {
		rows[c.Name] = c
	}
	switch f, d, a := rows["flaky"], rows["db"], rows["app"]; {
	case f.State != "running" || f.Restarts < 1:
		return false, fmt.Sprintf("flaky is %s with %d restarts", f.State, f.Restarts)
	case d.State != "running" || d.Health != "healthy":
		return false, fmt.Sprintf("db is %s/%s", d.State, d.Health)
	case a.State != "running":
		return false, "app is " + a.State
	}
	return true, ""
}

// TimelineEntry is one row of `svcctl --json boot`.
type TimelineEntry struct {
	AtNS int64  `json:"atNs"`
	What string `json:"what"`
}

// Order finds when db became healthy and app started in the timeline, and
// whether app came after.
func Order(tl []TimelineEntry) (healthy, started int64, ok bool) {
	healthy, started = -1, -1
	for _, e := range tl {
		if e.What == "service db healthy" && healthy < 0 {
			healthy = e.AtNS
		}
		if e.What == "service app started" && started < 0 {
			started = e.AtNS
		}
	}
	return healthy, started, healthy >= 0 && started >= healthy
}

func check() int {
	fail := func(format string, args ...any) int {
		fmt.Printf("KEEL-SVCDCHECK-FAIL "+format+"\n", args...)
		return 1
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out, code, err := guest.Svcctl("--json", "list")
		var cs []api.Container
		if err == nil && code == 0 && json.Unmarshal([]byte(out), &cs) == nil {
			ok, why := Ready(cs)
			if ok {
				break
			}
			if time.Now().After(deadline) {
				return fail("timed out: %s", why)
			}
		} else if time.Now().After(deadline) {
			return fail("svcctl list: exit %d, %v: %s", code, err, out)
		}
		time.Sleep(250 * time.Millisecond)
	}
	list, _, _ := guest.Svcctl("list")
	fmt.Printf("KEEL-SVCDCHECK-LIST-BEGIN\n%sKEEL-SVCDCHECK-LIST-END\n", list)
	boot, _, _ := guest.Svcctl("boot")
	fmt.Printf("KEEL-SVCDCHECK-BOOT-BEGIN\n%sKEEL-SVCDCHECK-BOOT-END\n", boot)

	out, _, err := guest.Svcctl("--json", "boot")
	var tl []TimelineEntry
	if err != nil || json.Unmarshal([]byte(out), &tl) != nil {
		return fail("svcctl --json boot: %v: %s", err, out)
	}
	healthy, started, ok := Order(tl)
	fmt.Printf("KEEL-SVCDCHECK-ORDER db-healthy=%d app-started=%d ok=%t\n", healthy, started, ok)

	// Exit codes mean something: 0 running, 5 not running, 3 unknown.
	_, running, _ := guest.Svcctl("status", "app")
	_, unknown, _ := guest.Svcctl("status", "no-such-service")
	fmt.Printf("KEEL-SVCDCHECK-EXITCODES status-running=%d status-unknown=%d\n", running, unknown)

	dmesg, code, err := guest.Svcctl("dmesg")
	lines := strings.Split(strings.TrimSpace(dmesg), "\n")
	fmt.Printf("KEEL-SVCDCHECK-DMESG exit=%d err=%v lines=%d first=%q\n", code, err, len(lines), lines[0])

	fmt.Println("KEEL-SVCDCHECK-DONE")
	if out, code, err := guest.Svcctl("poweroff"); err != nil || code != 0 {
		return fail("svcctl poweroff: exit %d, %v: %s", code, err, out)
	}
	return 0
}
