package build

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ucodeCPIO is an uncompressed newc archive laid out like Intel's
// microcode bundle.
func ucodeCPIO(t testing.TB) string {
	t.Helper()
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	for _, d := range []string{"kernel", "kernel/x86", "kernel/x86/microcode"} {
		if err := w.WriteHeader(&cpio.Header{Name: d, Mode: cpio.TypeDir | 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	body := "MICROCODE"
	if err := w.WriteHeader(&cpio.Header{Name: "kernel/x86/microcode/GenuineIntel.bin", Mode: cpio.TypeReg | 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, body)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func otherModulesTar(t testing.TB) string {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	data := "other"
	tw.WriteHeader(&tar.Header{Name: "lib/modules/6.1.0/b.ko", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
	io.WriteString(tw, data)
	tw.Close()
	return buf.String()
}

func TestKernelSectionFields(t *testing.T) {
	ucode := ucodeCPIO(t)
	tests := []struct {
		name    string
		kernel  string // the kernel section's extra lines
		wantErr []string
		// wantKernel is the kernel file's content; wantModule the module
		// file the initrd holds ("" for none).
		wantKernel, wantModule string
		wantUCode              bool
	}{
		{name: "defaults", wantKernel: "KERNEL", wantModule: "lib/modules/6.1.0/a.ko"},
		{name: "binary", kernel: "  binary: boot/vmlinuz\n", wantKernel: "VMLINUZ", wantModule: "lib/modules/6.1.0/a.ko"},
		{name: "tar named", kernel: "  tar: mods.tar\n", wantKernel: "KERNEL", wantModule: "lib/modules/6.1.0/b.ko"},
		{name: "tar none", kernel: "  tar: none\n", wantKernel: "KERNEL"},
		{name: "tar empty", kernel: "  tar: \"\"\n", wantKernel: "KERNEL"},
		{name: "ucode", kernel: "  ucode: intel-ucode.cpio\n", wantKernel: "KERNEL", wantModule: "lib/modules/6.1.0/a.ko", wantUCode: true},
		{name: "ucode empty", kernel: "  ucode: \"\"\n", wantKernel: "KERNEL", wantModule: "lib/modules/6.1.0/a.ko"},
		{name: "missing binary", kernel: "  binary: bzImage\n", wantErr: []string{"kernel.binary", "test/kernel:fields", "/bzImage"}},
		{name: "missing tar", kernel: "  tar: nope.tar\n", wantErr: []string{"kernel.tar", "test/kernel:fields", "/nope.tar"}},
		{name: "missing ucode", kernel: "  ucode: amd-ucode.cpio\n", wantErr: []string{"kernel.ucode", "test/kernel:fields", "/amd-ucode.cpio"}},
		{name: "compressed ucode", kernel: "  ucode: ucode.cpio.gz\n", wantErr: []string{"kernel.ucode", "not an uncompressed cpio"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "")
			img := treeImage(t, map[string]string{
				"/kernel":           "KERNEL",
				"/boot/vmlinuz":     "VMLINUZ",
				"/kernel.tar":       modulesTar(t),
				"/mods.tar":         otherModulesTar(t),
				"/intel-ucode.cpio": ucode,
				"/ucode.cpio.gz":    "\x1f\x8b not a cpio",
			}, v1.Config{})
			if err := f.cache.Put("test/kernel:fields", img); err != nil {
				t.Fatal(err)
			}
			f.spec = strings.Replace(f.spec, "  image: test/kernel:1\n", "  image: test/kernel:fields\n"+tt.kernel, 1)
			dir := t.TempDir()
			res, err := f.run(t, dir, nil)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("got no error, want one naming %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("got error %q, want it to name %q", err, w)
					}
				}
				if left, _ := os.ReadDir(dir); len(left) != 0 {
					t.Errorf("failed build left %d files in the output directory", len(left))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(res.Kernel); string(got) != tt.wantKernel {
				t.Errorf("got kernel %q, want %q", got, tt.wantKernel)
			}
			initrd, err := os.ReadFile(res.Initrd)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.HasPrefix(initrd, []byte(ucode)); got != tt.wantUCode {
				t.Errorf("initrd starts with the microcode archive: got %v, want %v", got, tt.wantUCode)
			}
			if tt.wantUCode {
				if res.Segments[0].What != "microcode intel-ucode.cpio" {
					t.Errorf("got first segment %q, want the microcode", res.Segments[0].What)
				}
				// The rest is the usual compressed system.
				rest := filepath.Join(t.TempDir(), "rest")
				pad := (4 - len(ucode)%4) % 4
				os.WriteFile(rest, initrd[len(ucode)+pad:], 0o644)
				res.Initrd = rest
			}
			files := readInitrd(t, res.Initrd)
			for _, m := range []string{"lib/modules/6.1.0/a.ko", "lib/modules/6.1.0/b.ko"} {
				if got, want := files[m] != nil, m == tt.wantModule; got != want {
					t.Errorf("initrd has %s: got %v, want %v", m, got, want)
				}
			}
			if files["init"] == nil {
				t.Errorf("initrd lacks the init image's /init")
			}

			// A second build, from cached segments, gives the same bytes.
			again, err := f.run(t, t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(again.Initrd)
			if !bytes.Equal(initrd, b) {
				t.Errorf("second initrd (%d bytes) differs from the first (%d bytes)", len(b), len(initrd))
			}
		})
	}
}

// TestKernelUCodeInTarFormats checks LinuxKit's places for the microcode
// in its tar formats: /boot/ucode.cpio in tar, ucode.cpio beside
// initrd.img in tar-kernel-initrd.
func TestKernelUCodeInTarFormats(t *testing.T) {
	ucode := ucodeCPIO(t)
	tests := []struct {
		format, entry string
	}{
		{FormatTar, "boot/ucode.cpio"},
		{FormatTarKernelInitrd, "ucode.cpio"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			f := newFixture(t, "")
			img := treeImage(t, map[string]string{"/kernel": "KERNEL", "/intel-ucode.cpio": ucode}, v1.Config{})
			if err := f.cache.Put("test/kernel:ucode", img); err != nil {
				t.Fatal(err)
			}
			f.spec = strings.Replace(f.spec, "  image: test/kernel:1\n", "  image: test/kernel:ucode\n  ucode: intel-ucode.cpio\n", 1)
			var out bytes.Buffer
			if _, err := f.run(t, t.TempDir(), func(o *Options) { o.Format, o.Output, o.Stdout = tt.format, "-", &out }); err != nil {
				t.Fatal(err)
			}
			names := tarNames(t, out.Bytes())
			if got := names[tt.entry]; !strings.HasPrefix(got, ucode) {
				t.Errorf("got %s of %d bytes, want the microcode archive (%d bytes)", tt.entry, len(got), len(ucode))
			}
		})
	}
}
