package main

import (
	"encoding/binary"
	"os"
)

// rndr reads the RNDR register once (rng_arm64.s); ok is false when the
// CPU had no random value ready (it then sets the Z flag).
func rndr() (word uint64, ok bool)

// hwcap2RNG is HWCAP2_RNG: the kernel reports FEAT_RNG (RNDR) in AT_HWCAP2.
const (
	atHWCAP2  = 26
	hwcap2RNG = 1 << 16
)

// hardwareSource uses RNDR when the kernel reports it. LinuxKit's rngd has
// no arm64 source; the x86 flags mean nothing here.
func hardwareSource(_, _ bool) (source, string) {
	if hwcap2()&hwcap2RNG == 0 {
		return nil, ""
	}
	return rndr, "RNDR"
}

// hwcap2 reads AT_HWCAP2 from the process's auxiliary vector.
func hwcap2() uint64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 0
	}
	for ; len(b) >= 16; b = b[16:] {
		if binary.LittleEndian.Uint64(b) == atHWCAP2 {
			return binary.LittleEndian.Uint64(b[8:])
		}
	}
	return 0
}
