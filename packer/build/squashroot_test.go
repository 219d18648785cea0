package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// squashfsKernelTar is a kernel.tar with the modules a squashfs root
// needs, one of their dependencies and an unrelated module.
func squashfsKernelTar(t testing.TB) string {
	t.Helper()
	const dir = "lib/modules/6.1.0/"
	files := []struct{ name, body string }{
		{"modules.dep", "kernel/drivers/block/loop.ko:\nkernel/fs/squashfs/squashfs.ko: kernel/lib/decomp.ko\nkernel/lib/decomp.ko:\nkernel/fs/overlayfs/overlay.ko:\nkernel/net/other.ko:\n"},
		{"modules.builtin", ""},
		{"modules.alias", "alias x other\n"},
		{"kernel/drivers/block/loop.ko", "loop"},
		{"kernel/fs/squashfs/squashfs.ko", "squashfs"},
		{"kernel/lib/decomp.ko", "decomp"},
		{"kernel/fs/overlayfs/overlay.ko", "overlay"},
		{"kernel/net/other.ko", "other"},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: dir + f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.body))}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, f.body)
	}
	tw.Close()
	return buf.String()
}

// readSquashfsInitrd splits an initrd built with a squashfs root into the
// root image and the entries of the (gzip'd) boot archive after it.
func readSquashfsInitrd(t *testing.T, file string) ([]byte, map[string]*cpioEntry) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := bufio.NewReader(f)
	r := cpio.NewReader(in)
	var names []string
	var img []byte
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the initrd's first archive: %v", err)
		}
		names = append(names, h.Name)
		if img, err = io.ReadAll(r); err != nil {
			t.Fatal(err)
		}
	}
	if len(names) != 1 || names[0] != "keel-root.squashfs" {
		t.Fatalf("first archive holds %v, want only keel-root.squashfs", names)
	}
	for {
		b, err := in.Peek(1)
		if err != nil || b[0] != 0 {
			break
		}
		in.ReadByte()
	}
	gz, err := unpack(in)
	if err != nil {
		t.Fatalf("the boot archive after the image: %v", err)
	}
	out := map[string]*cpioEntry{}
	readArchives(t, bufio.NewReader(gz), out)
	return img, out
}

func TestBuildSquashfsRoot(t *testing.T) {
	for _, tool := range []string{"mksquashfs", "unsquashfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install squashfs-tools)", tool)
		}
	}
	f := newFixture(t, "")
	kimg := treeImage(t, map[string]string{"/kernel": "KERNEL", "/kernel.tar": squashfsKernelTar(t)}, v1.Config{})
	if err := f.cache.Put("test/kernel:1", kimg); err != nil {
		t.Fatal(err)
	}
	initImg := treeImage(t, map[string]string{"/init": "#!/bin/sh\n", "/usr/bin/svcd": "svcd"}, v1.Config{})
	if err := f.cache.Put("test/init:1", initImg); err != nil {
		t.Fatal(err)
	}
	squashfs := func(o *Options) { o.Rootfs = RootfsSquashfs }
	a, b := t.TempDir(), t.TempDir()
	ra, err := f.run(t, a, squashfs)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := f.run(t, b, squashfs)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(ra.Initrd)
	y, _ := os.ReadFile(rb.Initrd)
	if !bytes.Equal(x, y) {
		t.Errorf("two builds of the same spec differ (%d and %d bytes): not reproducible", len(x), len(y))
	}

	img, boot := readSquashfsInitrd(t, ra.Initrd)
	// The initramfs holds init and the modules that mount the image, and
	// nothing of the system itself.
	var got []string
	for name, e := range boot {
		if e.hdr.Mode.IsRegular() {
			got = append(got, name)
		}
	}
	sort.Strings(got)
	want := []string{
		"init",
		"lib/modules/6.1.0/kernel/drivers/block/loop.ko",
		"lib/modules/6.1.0/kernel/fs/overlayfs/overlay.ko",
		"lib/modules/6.1.0/kernel/fs/squashfs/squashfs.ko",
		"lib/modules/6.1.0/kernel/lib/decomp.ko",
		"lib/modules/6.1.0/modules.alias",
		"lib/modules/6.1.0/modules.builtin",
		"lib/modules/6.1.0/modules.dep",
		"lib/modules/6.1.0/modules.omitted",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("boot archive files:\ngot  %v\nwant %v", got, want)
	}
	if boot["proc"] == nil || boot["dev"] == nil {
		t.Error("boot archive lacks the base directories (proc, dev) init mounts on")
	}

	// The image holds the whole system, as the plain initrd would.
	path := filepath.Join(t.TempDir(), "root.squashfs")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command("unsquashfs", "-lln", "-d", "", path).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs: %v: %s", err, list)
	}
	for _, want := range []string{
		"/init", "/usr/bin/svcd", "/lib/modules/6.1.0/kernel/fs/overlayfs/overlay.ko",
		"/containers/services/svc/rootfs/bin/svc", "/containers/services/svc/config.json",
		"/containers/onboot/000-first/rootfs/init", "/etc/motd",
	} {
		if !bytes.Contains(list, []byte(" "+want+"\n")) {
			t.Errorf("squashfs root lacks %s:\n%s", want, list)
		}
	}
	// A module outside the default set stays out of the image too.
	if bytes.Contains(list, []byte("other.ko")) {
		t.Errorf("squashfs root holds other.ko, which the default module set leaves out:\n%s", list)
	}
	motd, err := exec.Command("unsquashfs", "-cat", path, "etc/motd").Output()
	if err != nil || string(motd) != "hi\n" {
		t.Errorf("etc/motd in the image: got %q (%v), want %q", motd, err, "hi\n")
	}
}

func TestBuildSquashfsRootRefusesTar(t *testing.T) {
	f := newFixture(t, "")
	_, err := f.run(t, t.TempDir(), func(o *Options) { o.Rootfs = RootfsSquashfs; o.Format = FormatTar })
	if err == nil || !strings.Contains(err.Error(), "format tar") {
		t.Errorf("got %v, want an error saying tar has no initrd", err)
	}
	_, err = f.run(t, t.TempDir(), func(o *Options) { o.Rootfs = "erofs" })
	if err == nil || !strings.Contains(err.Error(), "use one of initrd, squashfs") {
		t.Errorf("got %v, want an error listing the root filesystems", err)
	}
}
