// Command faultcheck is a test-only program playing every role of the
// fault-injection boot (qemu-test/faults_test.go): an onboot container that
// fails and one that hangs past its timeout, a service in a crash loop, a
// service that allocates past its memory limit once, a service that fills
// /var until ENOSPC when told to, and the checker that watches the system
// recover from each and powers it off. See check.go for the checker.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/keel-os/keel/qemu-test/guest"
)

// fillFile is where the filler writes; the checker deletes it.
const fillFile = "/var/faults/fill"

func main() {
	if len(os.Args) != 2 {
		fmt.Println("FAULTS FAIL usage: faultcheck fail|hang|crash|hog|fill|check")
		os.Exit(2)
	}
	stop := guest.CatchStop()
	switch os.Args[1] {
	case "fail":
		fmt.Println("onboot failing on purpose")
		os.Exit(3)
	case "hang":
		fmt.Println("onboot hanging on purpose")
	case "crash":
		fmt.Println("crashing on purpose")
		os.Exit(1)
	case "hog":
		hog("/hogged", 512)
	case "fill":
		fill(stop)
	case "check":
		os.Exit(check())
	default:
		fmt.Printf("FAULTS FAIL unknown role %q\n", os.Args[1])
		os.Exit(2)
	}
	<-stop
}

// hog, on its first run (its marker lives in the container's root, which
// outlives a restart), touches up to maxMiB MiB of memory, a MiB at a
// time, which its memory limit must stop with the OOM killer. Later runs
// stay up.
func hog(marker string, maxMiB int) {
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		fmt.Println("hog up again after its OOM kill")
		return
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		fmt.Println("FAULTS FAIL hog cannot write its marker:", err)
		return
	}
	fmt.Println("hog allocating past its memory limit")
	var held [][]byte
	for i := 1; i <= maxMiB; i++ {
		b := make([]byte, 1<<20)
		// Touch every page, or the kernel never backs them.
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		held = append(held, b)
		if i%16 == 0 {
			fmt.Printf("hog holds %d MiB\n", i)
		}
	}
	fmt.Printf("FAULTS FAIL hog holds %d MiB and was not stopped by its memory limit\n", len(held))
}

// fill waits for SIGUSR1, then writes fillFile until the disk is full and
// says what error stopped it. It stays up: a full /var is no reason for a
// service to die.
func fill(stop <-chan os.Signal) {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	fmt.Println("filler waiting for SIGUSR1")
	select {
	case <-usr1:
	case <-stop:
		os.Exit(0)
	}
	start := time.Now()
	n, err := fillUntilFull(fillFile)
	fmt.Printf("filler stopped after %d MiB in %s: %v (ENOSPC: %v)\n", n>>20, time.Since(start).Round(time.Millisecond),
		err, errors.Is(err, syscall.ENOSPC))
	// Then more than a page of output: svcd's copy of it in
	// /var/log/filler.log needs a new page, which a full /var refuses.
	for i := 1; i <= 64; i++ {
		fmt.Printf("filler still up with /var full, line %d of 64 %s\n", i, strings.Repeat(".", 64))
	}
}

// fillUntilFull takes all the room of path's filesystem and returns how
// much it took and the error that stopped it. Most of the room is taken
// with fallocate, which on tmpfs spares copying every byte (a fill by
// write alone takes half a minute under TCG); the rest with writes, so
// that the last thing the filler sees is a write failing as any program
// writing a log would.
func fillUntilFull(path string) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, fmt.Errorf("making %s: %w", filepath.Dir(path), err)
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("creating %s: %w", path, err)
	}
	defer f.Close()
	const step = 16 << 20
	var total int64
	for {
		err := syscall.Fallocate(int(f.Fd()), 0, total, step)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			return total, fmt.Errorf("fallocate %s: %w", path, err)
		}
		total += step
	}
	if _, err := f.Seek(total, io.SeekStart); err != nil {
		return total, fmt.Errorf("seeking in %s: %w", path, err)
	}
	block := make([]byte, 64<<10)
	for {
		n, err := f.Write(block)
		total += int64(n)
		if err != nil {
			return total, fmt.Errorf("writing %s: %w", path, err)
		}
	}
}
