package main

import "golang.org/x/sys/cpu"

// rdrand and rdseed run the instruction once (rng_amd64.s); ok is the
// carry flag, clear when the CPU had no random value ready.
func rdrand() (word uint64, ok bool)
func rdseed() (word uint64, ok bool)

// hardwareSource prefers RDSEED, whose output is meant for seeding, and
// falls back to RDRAND for a word RDSEED cannot give, as LinuxKit's does.
func hardwareSource(useRdrand, useRdseed bool) (source, string) {
	seed := useRdseed && cpu.X86.HasRDSEED
	rnd := useRdrand && cpu.X86.HasRDRAND
	switch {
	case seed && rnd:
		return func() (uint64, bool) {
			if w, ok := rdseed(); ok {
				return w, true
			}
			return rdrand()
		}, "RDSEED/RDRAND"
	case seed:
		return rdseed, "RDSEED"
	case rnd:
		return rdrand, "RDRAND"
	}
	return nil, ""
}
