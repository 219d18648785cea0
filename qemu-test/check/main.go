// Command check is a test-only service: it waits until svcctl reports every
// expected container in the wanted state, prints what svcctl said between
// markers the boot test reads, and then powers the machine off through
// svcctl. It runs the real svcctl binary from the system, bind-mounted in,
// so the test covers the CLI a person would use.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Want is the state expected of one container in `svcctl list`.
type Want struct{ Name, State string }

// Satisfied reports whether svcctl's table shows every wanted container in
// its wanted state. Columns are NAME PHASE STATE ...
func Satisfied(table string, wants []Want) bool {
	rows := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 {
			rows[f[0]] = f[2]
		}
	}
	for _, w := range wants {
		if rows[w.Name] != w.State {
			return false
		}
	}
	return true
}

// ParseWants reads "name=state,name=state".
func ParseWants(s string) ([]Want, error) {
	var out []Want
	for _, p := range strings.Split(s, ",") {
		if p == "" {
			continue
		}
		n, st, ok := strings.Cut(p, "=")
		if !ok || n == "" || st == "" {
			return nil, fmt.Errorf("bad CHECK_WANT entry %q: want name=state", p)
		}
		out = append(out, Want{n, st})
	}
	return out, nil
}

func svcctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/svcctl", args...).CombinedOutput()
	return string(out), err
}

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	wants, err := ParseWants(os.Getenv("CHECK_WANT"))
	if err != nil {
		fmt.Println("KEEL-CHECK-FAIL", err)
		os.Exit(2)
	}
	deadline := time.Now().Add(2 * time.Minute)
	var table string
	for {
		table, err = svcctl("list")
		if err == nil && Satisfied(table, wants) {
			break
		}
		if time.Now().After(deadline) {
			fmt.Printf("KEEL-CHECK-FAIL timed out waiting for %v; last svcctl list (err %v):\n%s", wants, err, table)
			os.Exit(1)
		}
		time.Sleep(250 * time.Millisecond)
	}
	fmt.Printf("KEEL-CHECK-LIST-BEGIN\n%sKEEL-CHECK-LIST-END\n", table)
	// Services' output stays off the console unless marked: show what
	// svcd kept for the ones asked about.
	for _, name := range strings.FieldsFunc(os.Getenv("CHECK_LOGS"), func(r rune) bool { return r == ',' }) {
		out, err := svcctl("logs", "--tail", "5", name)
		fmt.Printf("KEEL-CHECK-LOGS-BEGIN %s (err %v)\n%sKEEL-CHECK-LOGS-END %s\n", name, err, out, name)
	}
	// logread (LinuxKit's name) reads the same logs, merged across
	// containers, with each line's container and stream.
	if name := os.Getenv("CHECK_LOGREAD"); name != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, "/usr/bin/logread", "-n", "5", name).CombinedOutput()
		cancel()
		fmt.Printf("KEEL-CHECK-LOGREAD-BEGIN %s (err %v)\n%sKEEL-CHECK-LOGREAD-END %s\n", name, err, out, name)
	}
	if os.Getenv("CHECK_LOOPS") == "true" {
		printLoops("/sys/block")
	}
	fmt.Println("KEEL-CHECK-OK")
	if os.Getenv("CHECK_POWEROFF") == "true" {
		if out, err := svcctl("poweroff"); err != nil {
			fmt.Printf("KEEL-CHECK-FAIL svcctl poweroff: %v: %s\n", err, out)
			os.Exit(1)
		}
	}
	// Stay up until svcd stops us, so the list above stays true. Waiting on
	// the stop signal (not on an empty select, which the Go runtime ends as
	// a deadlock once nothing else runs) also makes the stop quick: as PID
	// 1 of its namespace, the check would otherwise ignore SIGTERM and wait
	// for svcd's SIGKILL.
	<-stop
}

// printLoops prints one KEEL-CHECK-LOOP line per attached loop device
// under sysfs (its name, backing file and read-ahead in KiB) and one
// KEEL-CHECK-RAM line per RAM disk (its name, size in sectors and
// read-ahead), so a test can check how init set up the devices under the
// root's images.
func printLoops(sysfs string) {
	devs, _ := filepath.Glob(filepath.Join(sysfs, "loop*"))
	for _, d := range devs {
		backing, err := os.ReadFile(filepath.Join(d, "loop", "backing_file"))
		if err != nil {
			continue // not attached
		}
		fmt.Printf("KEEL-CHECK-LOOP %s %s %s\n", filepath.Base(d), strings.TrimSpace(string(backing)), readAhead(d))
	}
	rams, _ := filepath.Glob(filepath.Join(sysfs, "ram*"))
	for _, d := range rams {
		size, err := os.ReadFile(filepath.Join(d, "size"))
		if err != nil {
			fmt.Printf("KEEL-CHECK-FAIL %s: %v\n", d, err)
			continue
		}
		fmt.Printf("KEEL-CHECK-RAM %s %s %s\n", filepath.Base(d), strings.TrimSpace(string(size)), readAhead(d))
	}
}

// readAhead is a block device's read_ahead_kb, or why it is unknown.
func readAhead(dev string) string {
	ra, err := os.ReadFile(filepath.Join(dev, "queue", "read_ahead_kb"))
	if err != nil {
		return "unknown:" + err.Error()
	}
	return strings.TrimSpace(string(ra))
}
