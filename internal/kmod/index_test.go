package kmod

import (
	"errors"
	"github.com/keel-os/keel/internal/testkernel"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestWriteIndex(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "modules.order"), "kernel/a/a.ko\nkernel/b/b-mod.ko\n")
	writeFile(t, filepath.Join(dir, "modules.builtin"), "kernel/x/bi.ko\n")
	writeModule(t, dir, "kernel/a/a.ko", "name=a", "depends=b_mod,c", "alias=x:a*")
	writeModule(t, dir, "kernel/b/b-mod.ko", "name=b_mod", "depends=c")
	writeModule(t, dir, "kernel/c/c.ko", "name=c", "depends=")
	writeModule(t, dir, "updates/c.ko", "name=c", "depends=")
	writeModule(t, dir, "kernel/d/d.ko", "name=d", "depends=bi", "alias=x:d", "alias=y:[0-9]*")
	writeModule(t, dir, "kernel/e/e.ko", "name=e", "depends=zz")
	writeFile(t, filepath.Join(dir, "kernel/f/f.ko.xz"), "xz")

	err := WriteIndex(dir)
	var problems *IndexProblems
	if !errors.As(err, &problems) {
		t.Fatalf("WriteIndex: got %v, want *IndexProblems", err)
	}
	if len(problems.Skipped) != 1 || !strings.Contains(problems.Skipped[0].Error(), "f.ko.xz") {
		t.Errorf("Skipped: got %v, want one error about f.ko.xz", problems.Skipped)
	}
	if want := map[string][]string{"kernel/e/e.ko": {"zz"}}; !reflect.DeepEqual(problems.Unresolved, want) {
		t.Errorf("Unresolved: got %v, want %v", problems.Unresolved, want)
	}

	wantDep := `kernel/a/a.ko: kernel/b/b-mod.ko updates/c.ko
kernel/b/b-mod.ko: updates/c.ko
updates/c.ko:
kernel/d/d.ko:
kernel/e/e.ko:
`
	wantAlias := `# Aliases extracted from modules themselves.
alias x:a* a
alias x:d d
alias y:[0-9]* d
`
	for file, want := range map[string]string{"modules.dep": wantDep, "modules.alias": wantAlias} {
		got, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s:\ngot\n%s\nwant\n%s", file, got, want)
		}
	}

	// A second run over the same tree gives the same bytes.
	first, _ := os.ReadFile(filepath.Join(dir, "modules.dep"))
	WriteIndex(dir)
	second, _ := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if string(first) != string(second) {
		t.Errorf("second run: got\n%s\nwant\n%s", second, first)
	}
}

func TestWriteIndexClean(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, dir, "kernel/z.ko", "name=z", "depends=y")
	writeModule(t, dir, "kernel/y.ko", "name=y", "depends=")
	if err := WriteIndex(dir); err != nil {
		t.Fatalf("WriteIndex: got %v, want nil", err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if want := "kernel/y.ko:\nkernel/z.ko: kernel/y.ko\n"; string(got) != want {
		t.Errorf("modules.dep: got %q, want %q", got, want)
	}
}

func TestWriteIndexCycle(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, dir, "kernel/p.ko", "name=p", "depends=q")
	writeModule(t, dir, "kernel/q.ko", "name=q", "depends=p")
	writeModule(t, dir, "kernel/r.ko", "name=r", "depends=p")
	err := WriteIndex(dir)
	var problems *IndexProblems
	if !errors.As(err, &problems) {
		t.Fatalf("WriteIndex: got %v, want *IndexProblems", err)
	}
	if want := []string{"kernel/p.ko", "kernel/q.ko"}; !reflect.DeepEqual(problems.Cycles, want) {
		t.Errorf("Cycles: got %v, want %v", problems.Cycles, want)
	}
}

func TestWriteIndexMissingDir(t *testing.T) {
	if err := WriteIndex(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("got nil error for a missing directory, want an error")
	}
}

// debianModules unpacks the Debian cloud kernel Keel's build downloaded and
// returns its module tree, or skips the test.
func debianModules(t *testing.T) string {
	t.Helper()
	root, v := testkernel.Unpacked(t)
	return filepath.Join(root, "lib/modules", v)
}

// TestDebianModules checks the index of the real Debian cloud kernel when
// it is unpacked on this machine.
func TestDebianModules(t *testing.T) {
	debianModules := debianModules(t)
	dep, alias, problems, err := buildIndex(debianModules)
	if err != nil {
		t.Fatal(err)
	}
	if !problems.empty() {
		t.Errorf("problems: %v", problems)
	}
	lines := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(dep)), "\n") {
		mod, rest, _ := strings.Cut(l, ":")
		lines[mod] = strings.Fields(rest)
	}
	if len(lines) < 1000 {
		t.Errorf("got %d modules.dep lines, want over 1000", len(lines))
	}
	vnet := lines["kernel/drivers/net/virtio_net.ko"]
	for _, want := range []string{"kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko", "kernel/net/core/failover.ko"} {
		if !contains(vnet, want) {
			t.Errorf("virtio_net deps: got %v, want %s among them", vnet, want)
		}
	}
	// Every line must be loadable from its end backwards: each dependency's
	// own dependencies come after it on the line.
	for mod, deps := range lines {
		for i, d := range deps {
			for _, dd := range lines[d] {
				if !contains(deps[i+1:], dd) {
					t.Errorf("%s: %s needs %s, which is not after it in %v", mod, d, dd, deps)
				}
			}
		}
	}
	if !strings.Contains(string(alias), "\nalias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci\n") {
		t.Error("modules.alias: no virtio_pci PCI alias")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
