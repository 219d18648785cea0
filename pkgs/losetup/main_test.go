package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseArgs(t *testing.T) {
	def := options{sizeMiB: 10, dev: "/dev/loop0"}
	with := func(f func(*options)) options { o := def; f(&o); return o }
	tests := []struct {
		name    string
		args    []string
		want    options
		wantErr string
	}{
		{"LinuxKit's example", []string{"--create", "/var/external/storage_file"},
			with(func(o *options) { o.create, o.file = true, "/var/external/storage_file" }), ""},
		{"short forms", []string{"-c", "-s", "20", "-d", "/dev/loop3", "f"},
			with(func(o *options) { o.create, o.sizeMiB, o.dev, o.devSet, o.file = true, 20, "/dev/loop3", true, "f" }), ""},
		{"joined", []string{"-cs20", "--dev=/dev/loop1", "f"},
			with(func(o *options) { o.create, o.sizeMiB, o.dev, o.devSet, o.file = true, 20, "/dev/loop1", true, "f" }), ""},
		{"options after the file", []string{"f", "--size", "5"},
			with(func(o *options) { o.sizeMiB, o.file = 5, "f" }), ""},
		{"double dash", []string{"--", "-c"},
			with(func(o *options) { o.file = "-c" }), ""},
		{"help", []string{"-h"}, with(func(o *options) { o.help = true }), ""},
		{"no file", []string{"-c"}, options{}, "missing argument <file>"},
		{"two files", []string{"a", "b"}, options{}, "one <file>"},
		{"unknown", []string{"-x", "f"}, options{}, "unknown option -x"},
		{"unknown long", []string{"--sizes=1", "f"}, options{}, "unknown option --sizes=1"},
		{"size missing", []string{"f", "-s"}, options{}, "needs a value"},
		{"size not a number", []string{"-s", "1G", "f"}, options{}, "whole number of MiB"},
		{"size zero", []string{"-s", "0", "f"}, options{}, "whole number of MiB"},
		{"size huge", []string{"-s", "99999999999", "f"}, options{}, "whole number of MiB"},
		{"dev not in /dev", []string{"-d", "loop0", "f"}, options{}, "device path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseArgs(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCreate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := create(p, 3<<20); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Size() != 3<<20 {
		t.Fatalf("got %v, %v; want a 3 MiB file", st, err)
	}
	if err := create(p, 1<<20); err == nil {
		t.Error("creating over an existing file: got no error, want one")
	}
}

// TestAttach attaches a file to a free loop device of this machine and
// checks the kernel's record of it; it needs root and the loop driver.
func TestAttach(t *testing.T) {
	if testing.Short() || os.Geteuid() != 0 {
		t.Skip("attaches a loop device of this machine: needs root, and not in -short mode")
	}
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no loop driver: %v", err)
	}
	defer ctl.Close()
	n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	if err != nil {
		t.Skipf("no free loop device: %v", err)
	}
	dev := fmt.Sprintf("/dev/loop%d", n)
	if _, err := os.Stat(dev); err != nil {
		t.Skipf("no device node for the free loop device: %v", err)
	}
	file := filepath.Join(t.TempDir(), "backing")
	o := options{create: true, sizeMiB: 1, dev: dev, devSet: true, file: file}
	if code := run(o); code != 0 {
		t.Fatalf("got exit %d, want 0", code)
	}
	t.Cleanup(func() {
		if f, err := os.Open(dev); err == nil {
			unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0)
			f.Close()
		}
	})
	b, err := os.ReadFile(fmt.Sprintf("/sys/block/loop%d/loop/backing_file", n))
	if err != nil || strings.TrimSpace(string(b)) != file {
		t.Errorf("backing_file of %s: got %q, %v; want %s", dev, b, err, file)
	}
	// Again: the device holds this very file, which is success.
	if code := run(o); code != 0 {
		t.Errorf("second run: got exit %d, want 0", code)
	}
	// Another file on the same named device is refused.
	other := options{create: true, sizeMiB: 1, dev: dev, devSet: true, file: file + "2"}
	if code := run(other); code != 1 {
		t.Errorf("another file on a busy -d device: got exit %d, want 1", code)
	}
	// Without -d, a busy default device makes loopy take a free one.
	other.devSet, other.create = false, false
	got, err := attach(other)
	if err != nil || got == dev {
		t.Fatalf("a busy default device: got %s, %v; want another device", got, err)
	}
	if f, err := os.Open(got); err == nil {
		unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0)
		f.Close()
	}
}
