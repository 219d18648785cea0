package pkgbuild

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// recordAnyAge lets records be written for files the test just wrote.
func recordAnyAge(t *testing.T) {
	t.Helper()
	old := recordClock
	recordClock = func() time.Time { return time.Now().Add(time.Hour) }
	t.Cleanup(func() { recordClock = old })
}

func TestCachedGo(t *testing.T) {
	recordAnyAge(t)
	dir, cache := t.TempDir(), t.TempDir()
	src := filepath.Join(dir, "a.go")
	if err := os.WriteFile(src, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := 0
	compute := func(w io.Writer, in *inputs) error {
		runs++
		in.add(dir)
		in.add(src)
		b, err := os.ReadFile(src)
		w.Write(b)
		return err
	}
	get := func() string {
		t.Helper()
		out, err := cachedGo(cache, "k", compute)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	steps := []struct {
		name     string
		change   func() error
		want     string
		wantRuns int
	}{
		{"first time computes", func() error { return nil }, "one", 1},
		{"unchanged uses the record", func() error { return nil }, "one", 1},
		{"same size edit", func() error { return os.WriteFile(src, []byte("two"), 0o644) }, "two", 2},
		{"times put back", func() error {
			old := time.Now().Add(-time.Hour)
			if err := os.WriteFile(src, []byte("six"), 0o644); err != nil {
				return err
			}
			return os.Chtimes(src, old, old) // ctime still moves
		}, "six", 3},
		{"new file in the directory", func() error { return os.WriteFile(filepath.Join(dir, "b.go"), nil, 0o644) }, "six", 4},
		{"record corrupted", func() error {
			files, _ := filepath.Glob(filepath.Join(cache, "*.json"))
			if len(files) != 1 {
				t.Fatalf("want one record, got %v", files)
			}
			return os.WriteFile(files[0], []byte("{"), 0o644)
		}, "six", 5},
		{"then cached again", func() error { return nil }, "six", 5},
	}
	for _, s := range steps {
		// Coarse file system clocks: keep edits apart.
		time.Sleep(20 * time.Millisecond)
		if err := s.change(); err != nil {
			t.Fatal(err)
		}
		if got := get(); got != s.want || runs != s.wantRuns {
			t.Errorf("%s: got %q after %d computations, want %q after %d", s.name, got, runs, s.want, s.wantRuns)
		}
	}

	// Another key is another record.
	if _, err := cachedGo(cache, "other", compute); err != nil || runs != 6 {
		t.Errorf("other key: %d computations (%v), want 6", runs, err)
	}
}

// A record is not written while its inputs are younger than the clock's
// granularity could tell apart.
func TestCachedGoRacy(t *testing.T) {
	dir, cache := t.TempDir(), t.TempDir()
	src := filepath.Join(dir, "a.go")
	if err := os.WriteFile(src, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := 0
	compute := func(w io.Writer, in *inputs) error { runs++; in.add(src); return nil }
	for i := 0; i < 2; i++ {
		if _, err := cachedGo(cache, "k", compute); err != nil {
			t.Fatal(err)
		}
	}
	if runs != 2 {
		t.Errorf("fresh input: %d computations, want 2 (no record while racy)", runs)
	}
}

// With the record cache, tags are the same as without it and still follow
// every input (TestTagFollowsInputs's steps, through the cache).
func TestTagCacheFollowsInputs(t *testing.T) {
	recordAnyAge(t)
	cache := t.TempDir()
	root := tempModule(t, "package main\n\nfunc main() {}\n")
	pkg := filepath.Join(root, "pkg")
	tagVia := func(cacheDir string) string {
		t.Helper()
		p, err := Load(pkg)
		if err != nil {
			t.Fatal(err)
		}
		p.TagCache = cacheDir
		tag, err := p.Tag()
		if err != nil {
			t.Fatal(err)
		}
		return tag
	}
	check := func(step string) {
		t.Helper()
		cached, plain := tagVia(cache), tagVia("")
		if cached != plain {
			t.Errorf("%s: tag through the cache %s, without %s", step, cached, plain)
		}
		if again := tagVia(cache); again != plain {
			t.Errorf("%s: tag from the record %s, want %s", step, again, plain)
		}
	}
	check("first")
	if files, _ := filepath.Glob(filepath.Join(cache, "*.json")); len(files) != 2 {
		t.Errorf("records: got %v, want two (sources and Go version)", files)
	}
	for _, step := range []struct {
		name string
		file string
		body string
	}{
		{"Go source", "cmd/app/main.go", "package main\n\nfunc main() { println() }\n"},
		{"same-size Go source", "cmd/app/main.go", "package main\n\nfunc main() { println(1) }\n"},
		{"new Go file", "cmd/app/extra.go", "package main\n"},
		{"new dependency", "cmd/app/extra.go", "package main\n\nimport _ \"example.com/m/other\"\n"},
		{"dependency edited", "other/other.go", "package other\n\nvar Y = 2\n"},
		{"go.sum", "go.sum", "x v1 h1:y\n"},
	} {
		time.Sleep(20 * time.Millisecond)
		before := tagVia(cache)
		if err := os.WriteFile(filepath.Join(root, step.file), []byte(step.body), 0o644); err != nil {
			t.Fatal(err)
		}
		if after := tagVia(cache); after == before {
			t.Errorf("%s: tag unchanged (%s) through the cache", step.name, after)
		}
		check(step.name)
	}
}

func TestGoEnvKey(t *testing.T) {
	a := goEnvKey([]string{"PWD=/x", "GOFLAGS=-mod=mod", "PATH=/bin", "TERM=xterm"})
	b := goEnvKey([]string{"PATH=/bin", "GOFLAGS=-mod=mod", "PWD=/y"})
	if a != b {
		t.Errorf("irrelevant variables change the key: %q vs %q", a, b)
	}
	if c := goEnvKey([]string{"PATH=/bin", "GOFLAGS=-mod=vendor"}); bytes.Equal([]byte(c), []byte(a)) {
		t.Error("GOFLAGS does not change the key")
	}
}
