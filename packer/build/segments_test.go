package build

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-os/keel/packer/output"
)

func reused(r *Result) map[string]bool {
	out := map[string]bool{}
	for _, s := range r.Segments {
		out[s.What] = s.Reused
	}
	return out
}

func TestSegmentsAreReusedAndRebuiltOnlyWhenTheirInputsChange(t *testing.T) {
	f := newFixture(t, "")
	segs := f.cache.SegmentDir()
	cold, err := f.run(t, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for what, r := range reused(cold) {
		if r {
			t.Errorf("cold build: segment %s reused, want built", what)
		}
	}
	warm, err := f.run(t, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for what, r := range reused(warm) {
		if want := what != "files"; r != want {
			t.Errorf("warm build: segment %s reused %v, want %v", what, r, want)
		}
	}
	a, _ := os.ReadFile(cold.Initrd)
	b, _ := os.ReadFile(warm.Initrd)
	if !bytes.Equal(a, b) {
		t.Fatalf("warm initrd (%d bytes) differs from cold one (%d bytes)", len(b), len(a))
	}

	// One service's env changes: only its segment is built again.
	f.spec = strings.Replace(f.spec, "  - name: svc\n", "  - name: svc\n    env: [X=1]\n", 1)
	changed, err := f.run(t, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for what, r := range reused(changed) {
		if want := what != "files" && what != "service svc"; r != want {
			t.Errorf("after changing svc: segment %s reused %v, want %v", what, r, want)
		}
	}
	if got := readInitrd(t, changed.Initrd)["containers/services/svc/config.json"]; got == nil || !bytes.Contains(got.data, []byte(`"X=1"`)) {
		t.Errorf("rebuilt initrd: svc's config.json lacks X=1")
	}
	// The incremental result is what a build from nothing gives.
	if err := os.RemoveAll(segs); err != nil {
		t.Fatal(err)
	}
	fresh, err := f.run(t, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ = os.ReadFile(changed.Initrd)
	b, _ = os.ReadFile(fresh.Initrd)
	if !bytes.Equal(a, b) {
		t.Errorf("incremental initrd (%d bytes) differs from a fresh build's (%d bytes)", len(a), len(b))
	}
}

func tarNames(t *testing.T, data []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = string(b)
	}
}

func TestOneFileFormats(t *testing.T) {
	tests := []struct {
		format string
		want   map[string]string // name -> content ("" = any)
	}{
		{FormatTar, map[string]string{"boot/kernel": "KERNEL", "boot/cmdline": "console=ttyS0", "init": "#!/bin/sh\n",
			"containers/services/svc/rootfs/bin/svc": "svc", "etc/motd": "hi\n", "lib/modules/6.1.0/a.ko": "module", "proc/": ""}},
		{FormatTarKernelInitrd, map[string]string{"kernel": "KERNEL", "cmdline": "console=ttyS0", "initrd.img": ""}},
		{FormatDocker, map[string]string{"boot/kernel": "KERNEL", "init": "#!/bin/sh\n", "containers/services/svc/rootfs/bin/svc": "svc",
			"etc/motd": "hi\n", "Dockerfile": output.Dockerfile, ".dockerignore": "Dockerfile\n.dockerignore\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			f := newFixture(t, "")
			dir := t.TempDir()
			r1, err := f.run(t, dir, func(o *Options) { o.Format = tt.format })
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]string{FormatTar: "sys.tar", FormatTarKernelInitrd: "sys-initrd.tar", FormatDocker: "sys.docker"}[tt.format]; filepath.Base(r1.Output) != want {
				t.Errorf("got output %s, want %s", filepath.Base(r1.Output), want)
			}
			a, err := os.ReadFile(r1.Output)
			if err != nil {
				t.Fatal(err)
			}
			os.RemoveAll(f.cache.SegmentDir())
			var out bytes.Buffer
			if _, err := f.run(t, t.TempDir(), func(o *Options) { o.Format, o.Output, o.Stdout = tt.format, "-", &out }); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, out.Bytes()) {
				t.Errorf("second build to stdout: got %d bytes differing from the first's %d", out.Len(), len(a))
			}
			names := tarNames(t, a)
			for n, want := range tt.want {
				got, ok := names[n]
				if !ok || (want != "" && got != want) {
					t.Errorf("%s: entry %s = %q (present %v), want %q", tt.format, n, got, ok, want)
				}
			}
			if tt.format == FormatTarKernelInitrd {
				file := filepath.Join(t.TempDir(), "initrd")
				os.WriteFile(file, []byte(names["initrd.img"]), 0o644)
				if readInitrd(t, file)["containers/services/svc/rootfs/bin/svc"] == nil {
					t.Errorf("initrd.img lacks the service's files")
				}
			}
			left, _ := filepath.Glob(filepath.Join(dir, ".*"))
			if len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestOutputFlagNeedsOneFileFormat(t *testing.T) {
	f := newFixture(t, "")
	_, err := f.run(t, t.TempDir(), func(o *Options) { o.Output = "x" })
	if err == nil || !strings.Contains(err.Error(), "-o") {
		t.Errorf("kernel+initrd with -o: got %v, want an error about -o", err)
	}
}
