package boot

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// bootPrograms are the programs every boot runs soon: runc, which the
// first onboot container needs once the modules are loaded, then svcd (the
// multi-call binary that is also containerd and its shim), which init
// starts at once, so that its first pages are read by its own exec.
var bootPrograms = []string{"/usr/bin/runc", "/usr/bin/svcd"}

// prefetchRoom is how many times their size MemAvailable must hold for
// the prefetch to run: in a small guest, forcing 37 MB into the page cache
// would only push out pages the boot needs more.
const prefetchRoom = 4

// prefetchStep reads the boot programs into the page cache, so that their
// first exec finds them there. On a squashfs root the first read of a
// file decompresses it: under TCG that was 0.5 s for runc and 0.7 s for
// the multi-call binary, paid by svcd's start and the first onboot
// container on the boot's critical path. Here it is paid by a CPU that
// would otherwise wait while the modules load. On an initramfs root the
// files are in RAM already and this costs nothing.
//
// With one CPU there is no such idle CPU: the prefetch then competes with
// svcd's start and the module loads for the only one, and decompresses
// all of both files where the boot touches only part of them. Measured
// under TCG with one guest CPU (examples/minimal.yml, interleaved boots):
// every service up in a median 15.8 s without it against 22.6 s with it,
// on a loaded host.
func prefetchStep() error {
	if runtime.NumCPU() < 2 {
		klog.Debugf("prefetch: skipped, one CPU")
		return nil
	}
	var sizes []int64
	var total int64
	for _, p := range bootPrograms {
		st, err := os.Stat(p)
		if err != nil {
			sizes = append(sizes, -1)
			continue
		}
		sizes = append(sizes, st.Size())
		total += st.Size()
	}
	avail, err := memAvailable("/proc/meminfo")
	if err != nil {
		return err
	}
	if avail < prefetchRoom*total {
		klog.Debugf("prefetch: skipped, %d kB available for %d kB of programs", avail>>10, total>>10)
		return nil
	}
	for i, p := range bootPrograms {
		if sizes[i] < 0 {
			continue
		}
		if err := willNeed(p); err != nil {
			return err
		}
	}
	return nil
}

// willNeed reads all of path, so that the page cache holds it.
// fadvise(WILLNEED) would spare the copy, but on a squashfs root over a
// loop device it only starts the reads (measured: 0.16 s for 37 MB that
// take a second to decompress), and the point is to have them done.
func willNeed(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	for {
		_, err := f.Read(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("prefetch %s: %w", path, err)
		}
	}
}

// memAvailable reads MemAvailable, in bytes, from a meminfo file.
func memAvailable(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: MemAvailable: %w", path, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no MemAvailable line", path)
}
