package build

import (
	"bytes"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

func TestDiskCmdline(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"console=ttyS0", "console=ttyS0 root=/dev/vda"},
		{"", "root=/dev/vda"},
		{"console=ttyS0 root=/dev/sda", "console=ttyS0 root=/dev/sda"},
		// rootwait is not root=.
		{"rootwait", "rootwait root=/dev/vda"},
	} {
		if got := diskCmdline(c.in); got != c.want {
			t.Errorf("diskCmdline(%q): got %q, want %q", c.in, got, c.want)
		}
	}
}

// TestBuildKernelSquashfs builds kernel+squashfs twice from fresh segment
// caches: LinuxKit's three files (plus the small initrd Debian's kernel
// needs to reach the disk), byte-identical, the whole root in one image
// and root= on the command line.
func TestBuildKernelSquashfs(t *testing.T) {
	needSquashfsTools(t)
	f := squashfsFixture(t)
	var res [2]*Result
	for i := range res {
		var err error
		segs := t.TempDir()
		res[i], err = f.run(t, t.TempDir(), func(o *Options) {
			o.Format, o.Rootfs, o.SegmentDir = FormatKernelSquashfs, "", segs
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	a, b := res[0], res[1]
	if !strings.HasSuffix(a.Root, "/sys-squashfs.img") || !strings.HasSuffix(a.Kernel, "/sys-kernel") || !strings.HasSuffix(a.Cmdline, "/sys-cmdline") {
		t.Errorf("files: got %s %s %s, want sys-kernel, sys-cmdline, sys-squashfs.img", a.Kernel, a.Cmdline, a.Root)
	}
	for _, pair := range [][2]string{{a.Kernel, b.Kernel}, {a.Initrd, b.Initrd}, {a.Cmdline, b.Cmdline}, {a.Root, b.Root}} {
		x, err := os.ReadFile(pair[0])
		if err != nil {
			t.Fatal(err)
		}
		y, _ := os.ReadFile(pair[1])
		if !bytes.Equal(x, y) {
			t.Errorf("%s: two builds differ (%d and %d bytes): not reproducible", pair[0], len(x), len(y))
		}
	}
	cmd, _ := os.ReadFile(a.Cmdline)
	if got, want := string(cmd), "console=ttyS0 root=/dev/vda"; got != want {
		t.Errorf("cmdline: got %q, want %q", got, want)
	}

	// The initrd holds /init, the modules and the marker, nothing else.
	var got []string
	for name, e := range readInitrd(t, a.Initrd) {
		if e.hdr.Mode.IsRegular() {
			got = append(got, name)
		}
	}
	sort.Strings(got)
	want := []string{
		"init",
		"keel-root.disk",
		"lib/modules/6.1.0/kernel/fs/overlayfs/overlay.ko",
		"lib/modules/6.1.0/kernel/fs/squashfs/squashfs.ko",
		"lib/modules/6.1.0/kernel/lib/decomp.ko",
		"lib/modules/6.1.0/modules.alias",
		"lib/modules/6.1.0/modules.builtin",
		"lib/modules/6.1.0/modules.dep",
		"lib/modules/6.1.0/modules.omitted",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("initrd files:\ngot  %v\nwant %v", got, want)
	}

	// One image holds the whole root, /init included.
	img, err := os.ReadFile(a.Root)
	if err != nil {
		t.Fatal(err)
	}
	list := listSquashfs(t, img)
	for _, want := range []string{"/init", "/usr/bin/svcd", "/lib/modules/6.1.0/kernel/fs/overlayfs/overlay.ko", "/containers/onboot/000-first/rootfs/init", "/containers/services/svc/config.json", "/containers/services/svc/rootfs/bin/svc", "/etc/motd"} {
		if !strings.Contains(list, " "+want+"\n") {
			t.Errorf("the root image lacks %s:\n%s", want, list)
		}
	}
	if !strings.Contains(list, "drwxrwxrwt 0/0") || !strings.Contains(list, "drwx------ 0/0") {
		t.Errorf("the root image lacks the base directories /tmp (1777) and /root (0700):\n%s", list)
	}
}

func TestBuildKernelSquashfsRefuses(t *testing.T) {
	f := squashfsFixture(t)
	for _, c := range []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"one output file", func(o *Options) { o.Output = "x" }, "writes several"},
		{"initrd root", func(o *Options) { o.Rootfs = RootfsInitrd }, "drop --rootfs initrd"},
	} {
		_, err := f.run(t, t.TempDir(), func(o *Options) {
			o.Format, o.Rootfs = FormatKernelSquashfs, ""
			c.mod(o)
		})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error saying %q", c.name, err, c.want)
		}
	}
}

// TestBuildKernelISO builds kernel+iso twice: the same bytes, LinuxKit's
// NAME.iso holding the whole root with Rock Ridge.
func TestBuildKernelISO(t *testing.T) {
	f := squashfsFixture(t)
	var res [2]*Result
	for i := range res {
		var err error
		segs := t.TempDir()
		res[i], err = f.run(t, t.TempDir(), func(o *Options) {
			o.Format, o.Rootfs, o.SegmentDir = FormatKernelISO, "", segs
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	a, b := res[0], res[1]
	if !strings.HasSuffix(a.Root, "/sys.iso") {
		t.Errorf("root image %s, want sys.iso", a.Root)
	}
	for _, pair := range [][2]string{{a.Initrd, b.Initrd}, {a.Cmdline, b.Cmdline}, {a.Root, b.Root}} {
		x, err := os.ReadFile(pair[0])
		if err != nil {
			t.Fatal(err)
		}
		y, _ := os.ReadFile(pair[1])
		if !bytes.Equal(x, y) {
			t.Errorf("%s: two builds differ (%d and %d bytes): not reproducible", pair[0], len(x), len(y))
		}
	}
	img, err := os.Open(a.Root)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	st, _ := img.Stat()
	fsys, err := iso9660.Read(file.New(img, true), st.Size(), 0, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"init", "usr/bin/svcd", "containers/services/svc/config.json", "containers/services/svc/rootfs/bin/svc", "etc/motd"} {
		fh, err := fsys.OpenFile(want, os.O_RDONLY)
		if err != nil {
			t.Errorf("the root ISO lacks %s: %v", want, err)
			continue
		}
		fh.Close()
	}
}

// TestBuildKernelErofs builds kernel+erofs twice: the same bytes, an
// image fsck.erofs accepts.
func TestBuildKernelErofs(t *testing.T) {
	for _, tool := range []string{"mkfs.erofs", "fsck.erofs", "fakeroot"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("KEEL_E2E") == "1" {
				t.Fatalf("%s missing: run scripts/ensure-deps.sh", tool)
			}
			t.Skipf("%s missing (Debian's erofs-utils and fakeroot)", tool)
		}
	}
	f := squashfsFixture(t)
	var imgs [2][]byte
	for i := range imgs {
		segs := t.TempDir()
		res, err := f.run(t, t.TempDir(), func(o *Options) {
			o.Format, o.Rootfs, o.SegmentDir = FormatKernelErofs, "", segs
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(res.Root, "/sys-erofs.img") {
			t.Errorf("root image %s, want sys-erofs.img", res.Root)
		}
		if out, err := exec.Command("fsck.erofs", res.Root).CombinedOutput(); err != nil {
			t.Errorf("fsck.erofs: %v: %s", err, out)
		}
		imgs[i], _ = os.ReadFile(res.Root)
	}
	if len(imgs[0]) == 0 || !bytes.Equal(imgs[0], imgs[1]) {
		t.Errorf("two builds differ (%d and %d bytes): not reproducible", len(imgs[0]), len(imgs[1]))
	}
}
