package boot

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keel-os/keel/internal/kmod"
)

func TestParseModprobe(t *testing.T) {
	tests := []struct {
		args    []string
		want    modprobeArgs
		wantErr bool
	}{
		{[]string{"-q", "--", "fs-overlay"}, modprobeArgs{quiet: true, name: "fs-overlay"}, false},
		{[]string{"virtio_net", "napi_tx=1", "x=2"}, modprobeArgs{name: "virtio_net", params: "napi_tx=1 x=2"}, false},
		{[]string{"-v", "loop"}, modprobeArgs{name: "loop"}, false},
		{[]string{"--", "-odd-name"}, modprobeArgs{name: "-odd-name"}, false},
		{[]string{"-r", "loop"}, modprobeArgs{}, true},
		{[]string{"-q"}, modprobeArgs{}, true},
	}
	for _, tt := range tests {
		got, err := parseModprobe(tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseModprobe(%q): error %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && got != tt.want {
			t.Errorf("parseModprobe(%q) = %+v, want %+v", tt.args, got, tt.want)
		}
	}
}

func TestIsModprobe(t *testing.T) {
	for _, tt := range []struct {
		arg0 string
		want bool
	}{{"/sbin/modprobe", true}, {"modprobe", true}, {"/init", false}, {"poweroff", false}} {
		if got := IsModprobe([]string{tt.arg0}); got != tt.want {
			t.Errorf("IsModprobe(%q) = %v, want %v", tt.arg0, got, tt.want)
		}
	}
}

func TestReportOmittedOnce(t *testing.T) {
	dir := t.TempDir()
	kmsg := filepath.Join(dir, "kmsg")
	if err := os.WriteFile(kmsg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	marks := filepath.Join(dir, "marks")
	for i := 0; i < 3; i++ {
		reportOmitted(marks, kmsg, &kmod.OmittedError{Module: "af_alg", For: "net-pf-38"})
	}
	reportOmitted(marks, kmsg, &kmod.OmittedError{Module: "xfs", For: "fs-xfs"})
	got, err := os.ReadFile(kmsg)
	if err != nil {
		t.Fatal(err)
	}
	want := "<12>modprobe: module af_alg (for net-pf-38) is not in this image: keel build left it out; add it to the spec under `kernel: modules: [af_alg]` (or `modules: all`)\n" +
		"<12>modprobe: module xfs (for fs-xfs) is not in this image: keel build left it out; add it to the spec under `kernel: modules: [xfs]` (or `modules: all`)\n"
	if string(got) != want {
		t.Errorf("kernel log: got\n%s\nwant\n%s", got, want)
	}
}
