package build

import (
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/keel-os/keel/internal/testutil"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/packer/progress"
)

// recorder is a progress.Reporter that keeps what it is told.
type recorder struct {
	mu    sync.Mutex
	steps []progress.Step
	// bytes and done are per task, by kind and name.
	bytes map[string]int64
	done  map[string]bool
}

func newRecorder() *recorder {
	return &recorder{bytes: map[string]int64{}, done: map[string]bool{}}
}

type recTask struct {
	r   *recorder
	key string
}

func (r *recorder) Start(kind progress.Kind, name string, total int64) progress.Task {
	return &recTask{r, string(kind) + " " + name}
}

func (r *recorder) Step(s progress.Step) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, s)
}

func (t *recTask) Add(n int64) {
	t.r.mu.Lock()
	defer t.r.mu.Unlock()
	t.r.bytes[t.key] += n
}

func (t *recTask) Done(err error) {
	t.r.mu.Lock()
	defer t.r.mu.Unlock()
	t.r.done[t.key] = err == nil
}

// lines is every step as "kind name", sorted: parallel work reports in any
// order.
func (r *recorder) lines() []string {
	var out []string
	for _, s := range r.steps {
		out = append(out, string(s.Kind)+" "+s.Name)
	}
	slices.Sort(out)
	return out
}

func TestBuildReportsProgress(t *testing.T) {
	ref := testutil.Registry(t) + "/keel/svc:1"
	testutil.Push(t, ref, treeImage(t, map[string]string{"/bin/svc": "remote"}, v1.Config{Entrypoint: []string{"/bin/svc"}}))
	n, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, ref)
	dir := t.TempDir()
	segs := []string{"kernel modules", "init", "onboot first", "service svc"}
	files := []string{"wrote " + filepath.Join(dir, "sys-cmdline"), "wrote " + filepath.Join(dir, "sys-initrd.img"), "wrote " + filepath.Join(dir, "sys-kernel")}
	tests := []struct {
		name   string
		format string
		want   []string
	}{
		{"cold", "", append(append([]string{"pulled " + n.Name()}, prefixed("unpacked ", segs)...), files...)},
		{"warm", "", append(prefixed("cached ", segs), files...)},
		{"tar to stdout", FormatTar, []string{"wrote standard output"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			_, err := f.run(t, dir, func(o *Options) {
				o.Progress, o.Puller.Progress, o.Format = rec, rec, tt.format
				if tt.format != "" {
					o.Output, o.Stdout = "-", io.Discard
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Sorted(slices.Values(tt.want))
			if got := rec.lines(); !slices.Equal(got, want) {
				t.Errorf("got steps\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			for _, s := range rec.steps {
				if s.Size <= 0 {
					t.Errorf("step %s %s: got size %d, want the bytes it moved", s.Kind, s.Name, s.Size)
				}
				key := string(s.Kind) + " " + s.Name
				if s.Kind == progress.Pull || s.Kind == progress.Unpack {
					if !rec.done[key] || rec.bytes[key] != s.Size {
						t.Errorf("task %s: done %v after %d bytes, want done after %d", key, rec.done[key], rec.bytes[key], s.Size)
					}
				}
			}
		})
	}
}

func prefixed(p string, names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, p+n)
	}
	return out
}
