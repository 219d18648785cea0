package pkgbuild

import (
	"context"
	"debug/pe"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDebFile fetches the arm64 systemd stub the way arm64 UKIs get it:
// from the arm64 package, which this amd64 host cannot install.
func TestDebFile(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads a Debian package")
	}
	needApt(t)
	const member = "/usr/lib/systemd/boot/efi/linuxaa64.efi.stub"
	ctx := context.Background()
	if _, err := aptShow(ctx, "systemd-boot-efi", "arm64"); err != nil {
		t.Skipf("apt has no arm64 systemd-boot-efi here (scripts/ensure-deps.sh adds the architecture): %v", err)
	}
	dir := t.TempDir()
	got, err := DebFile(ctx, dir, "systemd-boot-efi", "arm64", member)
	if err != nil {
		t.Skipf("cannot fetch systemd-boot-efi:arm64: %v", err)
	}
	f, err := pe.Open(got)
	if err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if m := f.FileHeader.Machine; m != pe.IMAGE_FILE_MACHINE_ARM64 {
		t.Errorf("got PE machine %#x, want %#x (arm64)", m, pe.IMAGE_FILE_MACHINE_ARM64)
	}
	f.Close()

	tests := []struct {
		name, member, wantErr string
	}{
		// The .deb is gone: the extracted file of this version serves.
		{"cached by version", member, ""},
		{"missing member", "/usr/lib/no/such/file", "has no file /usr/lib/no/such/file"},
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr == "" {
				for _, d := range debs {
					os.Rename(d, d+".away")
					defer os.Rename(d+".away", d)
				}
			}
			again, err := DebFile(ctx, dir, "systemd-boot-efi", "arm64", tt.member)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want an error containing %q", again, err, tt.wantErr)
				}
				return
			}
			if err != nil || again != got {
				t.Errorf("got %q, %v; want %q from the cache", again, err, got)
			}
		})
	}
}
