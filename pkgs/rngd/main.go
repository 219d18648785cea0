// Command rngd feeds the kernel's entropy pool from the CPU's hardware
// random number generator (RDSEED or RDRAND on x86-64, RNDR on arm64), with
// the command line of LinuxKit's rngd: `rngd -1` fills the pool until the
// kernel no longer asks for more, then exits (an onboot container);
// `rngd` keeps doing so whenever the kernel asks (a service).
//
// Each 64-bit word goes in through the RNDADDENTROPY ioctl on /dev/random,
// credited with 64 bits, which is what the kernel's own use of these
// instructions trusts them for. The kernel asks for more by making
// /dev/random writable (poll's POLLOUT) while its pool is short.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("rngd: ")
	oneshot := flag.Bool("1", false, "fill the pool once, then exit (onboot)")
	// LinuxKit's x86 flags; a disabled instruction is not used.
	noRdrand := flag.Bool("disable-rdrand", false, "do not use RDRAND")
	noRdseed := flag.Bool("disable-rdseed", false, "do not use RDSEED")
	flag.Parse()
	if flag.NArg() > 0 {
		log.Fatalf("unexpected argument %q: usage: rngd [-1] [-disable-rdrand] [-disable-rdseed]", flag.Arg(0))
	}

	src, name := hardwareSource(!*noRdrand, !*noRdseed)
	if src == nil {
		log.Fatal("no hardware random source available: the CPU has no RDRAND/RDSEED (x86-64) or RNDR (arm64), or they were disabled; under QEMU use -cpu max or -cpu host")
	}
	p, err := openPool("/dev/random")
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	before := entropyAvail()
	if !*oneshot {
		// A service says once that feeding works, then stays quiet.
		w, err := read(src)
		if err == nil {
			err = p.Add(w)
		}
		if err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		log.Printf("fed 8 bytes from %s into the kernel's pool (entropy_avail %s -> %s); feeding whenever the kernel asks", name, before, entropyAvail())
	}
	n, err := feed(p, src, *oneshot)
	if err != nil {
		log.Fatalf("after %d bytes from %s: %v", n, name, err)
	}
	// Only the one-shot mode gets here; the service feeds until killed.
	log.Printf("wrote %d bytes of entropy from %s into the kernel's pool (entropy_avail %s -> %s), exiting as oneshot",
		n, name, before, entropyAvail())
}

// entropyAvail is the kernel's count of credited bits, for the log.
func entropyAvail() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/entropy_avail")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// source returns one word of hardware randomness; ok is false when the
// instruction had none to give this time (it may succeed on a retry).
type source func() (word uint64, ok bool)

// pool is the kernel's entropy pool.
type pool interface {
	// Add credits word to the pool as 64 bits of entropy.
	Add(word uint64) error
	// Wanted waits up to timeoutMs (-1: forever, 0: not at all) for the
	// kernel to ask for entropy and reports whether it does.
	Wanted(timeoutMs int) (bool, error)
}

// Bounds on the loop, so a CPU whose instruction keeps failing or a kernel
// that never stops asking cannot make rngd spin forever.
const (
	// retries of one word: Intel advises 10 for RDRAND before giving up.
	retries = 10
	// oneshotMax bounds what -1 writes: 4 KiB is 128 times the 256 bits
	// the kernel's pool needs.
	oneshotMax = 4096
)

// feed adds words from src to p: one at once, then as long as the kernel
// asks. With oneshot it returns, with the bytes written, when the kernel
// stops asking; otherwise it waits for the next request, and returns only
// on an error.
func feed(p pool, src source, oneshot bool) (int, error) {
	timeout := -1
	if oneshot {
		timeout = 0
	}
	written := 0
	for {
		word, err := read(src)
		if err != nil {
			return written, err
		}
		if err := p.Add(word); err != nil {
			return written, err
		}
		written += 8
		if oneshot && written >= oneshotMax {
			return written, nil
		}
		want, err := p.Wanted(timeout)
		if err != nil {
			return written, err
		}
		if !want && oneshot {
			return written, nil
		}
	}
}

// read takes one word from src, retrying a few times.
func read(src source) (uint64, error) {
	for range retries {
		if w, ok := src(); ok {
			return w, nil
		}
	}
	return 0, fmt.Errorf("the hardware random source failed %d times in a row", retries)
}
