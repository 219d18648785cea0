package cli

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestLongFlags(t *testing.T) {
	got := longFlags([]string{"build", "-format", "kernel+initrd", "-dir=out", "-", "--name", "x", "-v"})
	want := []string{"build", "--format", "kernel+initrd", "--dir=out", "-", "--name", "x", "-v"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestMetadataArgs(t *testing.T) {
	dir := t.TempDir()
	iso, ud := dir+"/seed.iso", dir+"/userdata"
	for _, f := range []string{iso, ud} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		data, file string
		want       string // a fragment of the arguments
		wantErr    bool
	}{
		{"", "", "", false},
		{"hello", "", "name=opt/keel/userdata,file=", false},
		{"", iso, "file=" + iso + ",if=virtio", false},
		{"", ud, "name=opt/keel/userdata,file=" + ud, false},
		{"a", ud, "", true},
		{"", dir + "/missing", "", true},
	}
	for _, tt := range tests {
		args, cleanup, err := metadataArgs(tt.data, tt.file)
		cleanup()
		if (err != nil) != tt.wantErr {
			t.Errorf("metadataArgs(%q, %q): error %v, want error %v", tt.data, tt.file, err, tt.wantErr)
			continue
		}
		if got := strings.Join(args, " "); !strings.Contains(got, tt.want) {
			t.Errorf("metadataArgs(%q, %q) = %q, want it to contain %q", tt.data, tt.file, got, tt.want)
		}
	}
}
