package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keel-os/keel/internal/testutil"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/spec"
)

// cacheWith makes a cache holding a kernel and one service image.
func cacheWith(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	c, err := image.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for ref, files := range map[string]map[string]string{
		"test/kernel:1": {"/kernel": "K"},
		"test/svc:1":    {"/bin/svc": "S"},
	} {
		tr := image.NewTree()
		for p, d := range files {
			if err := tr.AddBytes(p, 0o755, []byte(d)); err != nil {
				t.Fatal(err)
			}
		}
		img, err := image.NewImage(tr, v1.Config{Entrypoint: []string{"/bin/svc"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Put(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const stdinSpec = `kernel:
  image: test/kernel:1
  cmdline: console=ttyS0
services:
  - name: svc
    image: test/svc:1
    capabilities: []
`

func TestBuildFromStdin(t *testing.T) {
	cache, out := cacheWith(t), t.TempDir()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"--cache", cache, "build", "-pull", "never", "-dir", out, "-"},
		strings.NewReader(stdinSpec), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, f := range []string{"keel-kernel", "keel-initrd.img", "keel-cmdline"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("after build from stdin: %v", err)
		}
	}
}

func TestBuildDryRun(t *testing.T) {
	cache, out := cacheWith(t), t.TempDir()
	extra := filepath.Join(t.TempDir(), "extra.yml")
	os.WriteFile(extra, []byte("kernel:\n  cmdline: quiet\nfiles:\n  - path: etc/x\n    contents: y\n"), 0o644)
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"--cache", cache, "build", "--dry-run", "-dir", out, "-", extra},
		strings.NewReader(stdinSpec), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	s, err := spec.Parse("dry-run output", stdout.Bytes())
	if err != nil {
		t.Fatalf("dry-run output does not parse: %v\n%s", err, stdout.String())
	}
	if s.Kernel.Cmdline != "quiet" || len(s.Files) != 1 || len(s.Services) != 1 || s.Services[0].Capabilities == nil {
		t.Errorf("dry-run printed the wrong merge:\n%s", stdout.String())
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("dry-run wrote %d files, want none", len(entries))
	}
}

func TestBuildBadPullPolicy(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"--cache", t.TempDir(), "build", "--pull", "sometimes", "x.yml"}, nil, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "pull policy") {
		t.Errorf("exit %d, stderr %q; want a pull policy error", code, stderr.String())
	}
}

func TestCacheImportLs(t *testing.T) {
	src := cacheWith(t) // a Keel cache is an OCI layout with full names
	dst := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"--cache", dst, "cache", "import", src}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr.String())
	}
	stdout.Reset()
	if code := Run(context.Background(), []string{"--cache", dst, "cache", "ls"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("ls: exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"index.docker.io/test/kernel:1", "index.docker.io/test/svc:1"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("cache ls output lacks %s:\n%s", want, stdout.String())
		}
	}
	if code := Run(context.Background(), []string{"--cache", dst, "cache", "rm", "test/svc:1"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("rm: exit %d: %s", code, stderr.String())
	}
	if code := Run(context.Background(), []string{"--cache", dst, "cache", "rm", "test/svc:1"}, nil, &stdout, &stderr); code == 0 {
		t.Errorf("rm of a missing image succeeded")
	}
}

func TestBuildOutputLevels(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// wantErr are fragments stderr must hold; nil means stderr must be
		// empty.
		wantErr    []string
		notErr     []string
		wantStdout bool // stdout carries the artifact (-o -)
	}{
		{name: "quiet", args: []string{"-q"}},
		// -o without -format means tar, as in LinuxKit.
		{name: "output without format", args: []string{"-q", "-o", "-"}, wantStdout: true},
		{name: "quiet to stdout", args: []string{"-q", "-format", "tar", "-o", "-"}, wantStdout: true},
		{name: "default", wantErr: []string{"built "}, notErr: []string{"unpacked", "wrote"}},
		{name: "verbose", args: []string{"-v"}, wantErr: []string{"unpacked service svc into a new segment (", "wrote ", "keel-initrd.img (", "built "}},
		{name: "verbose to stdout", args: []string{"-v", "-format", "tar", "-o", "-"}, wantErr: []string{"wrote standard output ("}, wantStdout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache, out := cacheWith(t), t.TempDir()
			args := append([]string{"--cache", cache, "build", "-pull", "never", "-dir", out}, tt.args...)
			var stdout, stderr bytes.Buffer
			if code := Run(context.Background(), append(args, "-"), strings.NewReader(stdinSpec), &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if tt.wantErr == nil && stderr.Len() != 0 {
				t.Errorf("got stderr %q, want nothing", stderr.String())
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("got stderr %q, want it to hold %q", stderr.String(), w)
				}
			}
			for _, w := range tt.notErr {
				if strings.Contains(stderr.String(), w) {
					t.Errorf("got stderr %q, want no %q", stderr.String(), w)
				}
			}
			// Stdout is the artifact's alone: a tar archive, or nothing.
			if tt.wantStdout {
				if len(stdout.Bytes()) < 1024 || !strings.Contains(stdout.String(), "boot/kernel") {
					t.Errorf("got %d bytes on stdout, want the tar", stdout.Len())
				}
			} else if stdout.Len() != 0 {
				t.Errorf("got stdout %q, want nothing", stdout.String())
			}
		})
	}
}

func TestQuietAndVerboseConflict(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"--cache", t.TempDir(), "-q", "-v", "build", "x.yml"}, nil, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "contradict") {
		t.Errorf("exit %d, stderr %q; want an error saying -q and -v contradict", code, stderr.String())
	}
}

// TestBuildMergesFilesAndResolvesPkg builds two spec files, the first
// naming a package folder with `@pkg:`: --dry-run must print the tag
// `keel pkg show-tag` gives, and the real build must hold the package's
// files and the second file's additions.
func TestBuildMergesFilesAndResolvesPkg(t *testing.T) {
	cache, out, src := cacheWith(t), t.TempDir(), t.TempDir()
	pkg := filepath.Join(src, "pkgs", "tiny")
	os.MkdirAll(pkg, 0o755)
	os.WriteFile(filepath.Join(pkg, "build.yml"), []byte("image: tiny\norg: keeltest\nfiles:\n  - path: /etc/tiny\n    contents: \"tiny\\n\"\nentrypoint: [/bin/true]\n"), 0o644)
	a := filepath.Join(src, "specs", "a.yml")
	os.MkdirAll(filepath.Dir(a), 0o755)
	os.WriteFile(a, []byte(stdinSpec+"  - name: tiny\n    image: \"@pkg:../pkgs/tiny\"\n"), 0o644)
	b := filepath.Join(src, "b.yml")
	os.WriteFile(b, []byte("kernel:\n  cmdline: console=ttyS1\nfiles:\n  - path: etc/from-b\n    contents: b\n"), 0o644)

	run := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), append([]string{"--cache", cache}, args...), nil, &stdout, &stderr); code != 0 {
			t.Fatalf("keel %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
		}
		return stdout.String()
	}
	tag := strings.TrimSpace(run("pkg", "show-tag", pkg))
	s, err := spec.Parse("dry-run output", []byte(run("build", "--dry-run", a, b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Services) != 2 || s.Services[1].Image != tag {
		t.Errorf("dry-run: got services %+v, want the second from %s", s.Services, tag)
	}

	run("build", "-pull", "never", "-format", "tar", "-o", filepath.Join(out, "sys.tar"), a, b)
	f, err := os.Open(filepath.Join(out, "sys.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := testutil.TarFiles(t, f)
	for name, want := range map[string]string{
		"containers/services/tiny/rootfs/etc/tiny": "tiny\n",
		"etc/from-b":   "b",
		"boot/cmdline": "console=ttyS1",
	} {
		if string(got[name]) != want {
			t.Errorf("tar entry %s = %q, want %q", name, got[name], want)
		}
	}
}

// TestRunBuild calls the function behind `keel build` directly, without
// cobra: the flags it parses, which of Load and Run it picks, and what it
// reports.
func TestRunBuild(t *testing.T) {
	tests := []struct {
		name    string
		opts    func(o *buildOptions, dir string)
		wantErr string
		wantLog string // substring of log
		wantOut string // substring of stdout
		files   []string
	}{
		{name: "kernel+initrd", wantLog: "built ", files: []string{"spec-kernel", "spec-initrd.img", "spec-cmdline"}},
		{name: "-o alone means tar", opts: func(o *buildOptions, dir string) { o.Output = filepath.Join(dir, "sys.tar") },
			wantLog: "sys.tar\n", files: []string{"sys.tar"}},
		{name: "-o with --format", opts: func(o *buildOptions, dir string) {
			o.Output, o.FormatSet = filepath.Join(dir, "sys.tar"), true
		}, wantErr: "-o names one output file"},
		{name: "dry run", opts: func(o *buildOptions, dir string) { o.DryRun = true }, wantOut: "image: test/svc:1"},
		{name: "bad size", opts: func(o *buildOptions, dir string) { o.Size = "lots" }, wantErr: "--size"},
		{name: "key without cert", opts: func(o *buildOptions, dir string) { o.SignKey = "k.pem" }, wantErr: "needs both --sign-key and --sign-cert"},
		{name: "bad pull policy", opts: func(o *buildOptions, dir string) { o.Pull = "sometimes" }, wantErr: "pull policy"},
		{name: "bad pull policy on a dry run", opts: func(o *buildOptions, dir string) { o.Pull, o.DryRun = "sometimes", true }, wantErr: "pull policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache, err := image.Open(cacheWith(t))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			specFile := filepath.Join(t.TempDir(), "spec.yml")
			if err := os.WriteFile(specFile, []byte(stdinSpec), 0o644); err != nil {
				t.Fatal(err)
			}
			o := buildOptions{}
			o.Files, o.Cache, o.Dir, o.Pull, o.Format = []string{specFile}, cache, dir, image.PullNever, "kernel+initrd"
			if tt.opts != nil {
				tt.opts(&o, dir)
			}
			var stdout, log bytes.Buffer
			err = runBuild(context.Background(), o, &stdout, &log)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("got error %v, want %q", err, tt.wantErr)
			}
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("log: got %q, want %q in it", log.String(), tt.wantLog)
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout: got %q, want %q in it", stdout.String(), tt.wantOut)
			}
			entries, _ := os.ReadDir(dir)
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			for _, f := range tt.files {
				if !slices.Contains(got, f) {
					t.Errorf("files written: got %v, want %s among them", got, f)
				}
			}
			if len(tt.files) == 0 && len(got) != 0 {
				t.Errorf("files written: got %v, want none", got)
			}
		})
	}
}
