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

	"github.com/keel-os/keel/packer/rootfs"

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
// root images, in stacking order, and the entries of the boot archive
// after them.
func readSquashfsInitrd(t *testing.T, file string) ([][]byte, map[string]*cpioEntry) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := bufio.NewReader(f)
	r := cpio.NewReader(in)
	var imgs [][]byte
	for i := 0; ; i++ {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the initrd's first archive: %v", err)
		}
		if i == 0 {
			if h.Name != "keel-root" || !h.Mode.IsDir() {
				t.Fatalf("first entry %s (mode %v), want the directory keel-root", h.Name, h.Mode)
			}
			continue
		}
		if want := "keel-root/" + RootPartName(i-1); h.Name != want {
			t.Fatalf("entry %d of the first archive is %s, want %s", i, h.Name, want)
		}
		img, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
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
		t.Fatalf("the boot archive after the images: %v", err)
	}
	out := map[string]*cpioEntry{}
	readArchives(t, bufio.NewReader(gz), out)
	return imgs, out
}

// listSquashfs returns unsquashfs's long listing of the image img.
func listSquashfs(t *testing.T, img []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "part.squashfs")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command("unsquashfs", "-lln", "-d", "", path).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs: %v: %s", err, list)
	}
	return string(list)
}

// needSquashfsTools skips a test on a machine without squashfs-tools.
func needSquashfsTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"mksquashfs", "unsquashfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install squashfs-tools)", tool)
		}
	}
}

// squashfsFixture is a fixture whose kernel has the modules a squashfs
// root needs and whose spec has an init image.
func squashfsFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, "")
	kimg := treeImage(t, map[string]string{"/kernel": "KERNEL", "/kernel.tar": squashfsKernelTar(t)}, v1.Config{})
	if err := f.cache.Put("test/kernel:1", kimg); err != nil {
		t.Fatal(err)
	}
	initImg := treeImage(t, map[string]string{"/init": "#!/bin/sh\n", "/usr/bin/svcd": "svcd"}, v1.Config{})
	if err := f.cache.Put("test/init:1", initImg); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestBuildSquashfsRoot(t *testing.T) {
	needSquashfsTools(t)
	f := squashfsFixture(t)
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

	imgs, boot := readSquashfsInitrd(t, ra.Initrd)
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

	// The images hold the whole system, as the plain initrd would, one
	// part each in the initrd's order: kernel modules, init, the onboot
	// container, the service, the files. Each carries the base
	// directories, so none masks their modes in the overlay. None holds
	// /init: the boot archive does, and init binds it into the new root.
	parts := []struct{ has, lacks string }{
		{"/lib/modules/6.1.0/kernel/fs/overlayfs/overlay.ko", "/init"},
		{"/usr/bin/svcd", "/init"},
		{"/containers/onboot/000-first/rootfs/init", "/init"},
		{"/containers/services/svc/config.json", "/init"},
		{"/etc/motd", "/init"},
	}
	if len(imgs) != len(parts) {
		t.Fatalf("%d root images, want %d (one per part)", len(imgs), len(parts))
	}
	var all strings.Builder
	for i, p := range parts {
		list := listSquashfs(t, imgs[i])
		all.WriteString(list)
		if !strings.Contains(list, " "+p.has+"\n") || strings.Contains(list, " "+p.lacks+"\n") {
			t.Errorf("image %d: want %s and not %s in:\n%s", i, p.has, p.lacks, list)
		}
		if !strings.Contains(list, "drwxrwxrwt 0/0") || !strings.Contains(list, "drwx------ 0/0") {
			t.Errorf("image %d lacks the base directories /tmp (1777) and /root (0700):\n%s", i, list)
		}
	}
	for _, want := range []string{"/containers/services/svc/rootfs/bin/svc"} {
		if !strings.Contains(all.String(), " "+want+"\n") {
			t.Errorf("no root image holds %s", want)
		}
	}
	// A module outside the default set stays out of the images too.
	if strings.Contains(all.String(), "other.ko") {
		t.Errorf("a root image holds other.ko, which the default module set leaves out")
	}
	path := filepath.Join(t.TempDir(), "files.squashfs")
	if err := os.WriteFile(path, imgs[4], 0o644); err != nil {
		t.Fatal(err)
	}
	motd, err := exec.Command("unsquashfs", "-cat", path, "etc/motd").Output()
	if err != nil || string(motd) != "hi\n" {
		t.Errorf("etc/motd in the files image: got %q (%v), want %q", motd, err, "hi\n")
	}
	// The SBOM goes with the spec's files, the one part never cached.
	if bom, err := exec.Command("unsquashfs", "-cat", path, "sbom.spdx.json").Output(); err != nil || !bytes.Contains(bom, []byte(`"SPDX-2.3"`)) {
		t.Errorf("sbom.spdx.json in the files image: got %d bytes (%v), want an SPDX 2.3 document", len(bom), err)
	}
}

// TestSquashfsRootRebuildsOnePart: a squashfs root is cached per part, so
// changing one service rebuilds that service's image only.
func TestSquashfsRootRebuildsOnePart(t *testing.T) {
	needSquashfsTools(t)
	f := squashfsFixture(t)
	squashfs := func(o *Options) { o.Rootfs = RootfsSquashfs }
	if _, err := f.run(t, t.TempDir(), squashfs); err != nil {
		t.Fatal(err)
	}
	f.spec = strings.Replace(f.spec, "services:\n  - name: svc\n", "services:\n  - name: svc\n    env: [CHANGED=1]\n", 1)
	if !strings.Contains(f.spec, "CHANGED") {
		t.Fatalf("fixture spec changed shape; cannot change the service:\n%s", f.spec)
	}
	res, err := f.run(t, t.TempDir(), squashfs)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Segments {
		// The files part is never cached (it is read from the host), and
		// the archive around the images is written every time.
		want := !strings.HasPrefix(s.What, "service svc") && !strings.HasPrefix(s.What, "files") && !strings.HasPrefix(s.What, "squashfs archive")
		if s.Reused != want {
			t.Errorf("after changing svc: %s reused %v, want %v", s.What, s.Reused, want)
		}
	}
}

// TestDefaultRootfs: with no --rootfs a spec with init images gets a
// squashfs root, and without mksquashfs the plain initrd with a warning.
func TestDefaultRootfs(t *testing.T) {
	needSquashfsTools(t)
	f := squashfsFixture(t)
	res, err := f.run(t, t.TempDir(), func(o *Options) { o.Rootfs = "" })
	if err != nil {
		t.Fatal(err)
	}
	readSquashfsInitrd(t, res.Initrd) // fails the test unless a squashfs root

	t.Setenv("PATH", t.TempDir())
	var warn bytes.Buffer
	res, err = f.run(t, t.TempDir(), func(o *Options) { o.Rootfs = ""; o.Warn = &warn })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(warn.String(), "mksquashfs not found") {
		t.Errorf("warnings %q, want one saying mksquashfs is missing", warn.String())
	}
	if readInitrd(t, res.Initrd)["containers/services/svc/config.json"] == nil {
		t.Error("without mksquashfs the initrd does not hold the system unpacked")
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

// tarLayer is a layer whose tar holds hs (regular files get a 1-byte body).
func tarLayer(t *testing.T, hs ...*tar.Header) rootfs.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		if h.Typeflag == tar.TypeReg {
			h.Size = 1
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte("x"))
		}
	}
	tw.Close()
	b := buf.Bytes()
	return rootfs.Layer{What: "test", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

func TestWithoutInit(t *testing.T) {
	reg := func(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o755} }
	link := &tar.Header{Name: "sbin/init", Typeflag: tar.TypeLink, Linkname: "./init"}
	tests := []struct {
		name  string
		layer rootfs.Layer
		want  []string
	}{
		{"init dropped", tarLayer(t, reg("init"), reg("usr/bin/svcd")), []string{"usr/bin/svcd"}},
		{"init under ./ dropped", tarLayer(t, reg("./init"), reg("bin/x")), []string{"bin/x"}},
		{"hard-linked init kept", tarLayer(t, reg("init"), link), []string{"init", "sbin/init"}},
		{"other init kept", tarLayer(t, reg("sbin/init")), []string{"sbin/init"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := part{What: "init", inputs: []string{"init", "sha256:1"}, sys: &rootfs.System{Layers: []rootfs.Layer{tt.layer}}}
			q := withoutInit(p)
			if len(p.inputs) != 2 || len(q.inputs) != 3 {
				t.Errorf("inputs: got %v (was %v), want one more, the original untouched", q.inputs, p.inputs)
			}
			rc, err := q.sys.Layers[0].Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			var got []string
			tr := tar.NewReader(rc)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, h.Name)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
