package run

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// orphanChildEnv makes the test binary act as a `keel run qemu` that boots
// the prefix it names (TestQEMUEndsWithKeel).
const orphanChildEnv = "KEEL_TEST_ORPHAN_PREFIX"

// TestQEMUEndsWithKeel: a QEMU booted in the foreground must not outlive
// keel, even when keel is killed with SIGKILL and can clean nothing up.
func TestQEMUEndsWithKeel(t *testing.T) {
	if prefix := os.Getenv(orphanChildEnv); prefix != "" {
		// The child: boot until killed.
		q := &QEMU{Prefix: prefix, KVM: "off", Binary: os.Getenv("KEEL_TEST_ORPHAN_QEMU")}
		q.Run(context.Background())
		os.Exit(0)
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "qemu.pid")
	stand := filepath.Join(dir, "qemu-system-x86_64")
	// A stand-in QEMU that records its pid and runs until killed.
	script := "#!/bin/sh\necho $$ > " + pidFile + ".tmp && mv " + pidFile + ".tmp " + pidFile + "\nexec sleep 600\n"
	if err := os.WriteFile(stand, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(dir, "m")
	for _, s := range []string{"-kernel", "-initrd.img"} {
		if err := os.WriteFile(prefix+s, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	child := exec.Command(os.Args[0], "-test.run", "^TestQEMUEndsWithKeel$")
	child.Env = append(os.Environ(), orphanChildEnv+"="+prefix, "KEEL_TEST_ORPHAN_QEMU="+stand)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	var pid int
	for deadline := time.Now().Add(20 * time.Second); pid == 0; {
		if b, err := os.ReadFile(pidFile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatal("the stand-in QEMU did not start within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	child.Process.Kill() // SIGKILL: keel gets no chance to stop QEMU itself
	child.Wait()
	for deadline := time.Now().Add(5 * time.Second); ; {
		// The stand-in is the test's grandchild: once signalled it is
		// reparented and reaped elsewhere, so test for the pid itself
		// (a zombie counts as gone).
		if gone(pid) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("QEMU (pid %d) still runs 5s after keel was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gone reports whether pid has exited (or is a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}
