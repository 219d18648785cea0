package run

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestArgs(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m")
	for _, s := range []string{"-kernel", "-initrd.img"} {
		os.WriteFile(p+s, []byte("x"), 0o644)
	}
	os.WriteFile(p+"-cmdline", []byte("console=ttyS0\n"), 0o644)
	q := &QEMU{Prefix: p, ExtraCmdline: "keel.debug", KVM: "off", Mem: 512}
	args, err := q.Args()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.Index(args, "-append")
	if i < 0 || args[i+1] != "console=ttyS0 keel.debug" {
		t.Errorf("-append = %v, want console=ttyS0 keel.debug", args)
	}
	if j := slices.Index(args, "-m"); args[j+1] != "512" {
		t.Errorf("-m %s, want 512", args[j+1])
	}
	if slices.Contains(args, "-enable-kvm") {
		t.Error("KVM off but -enable-kvm given")
	}
	if _, err := (&QEMU{Prefix: filepath.Join(dir, "missing")}).Args(); err == nil {
		t.Error("missing build: got nil error, want one")
	}
}
