package pkgbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/keel-os/keel/internal/atomicfile"
)

// The Go part of a package's tag (hashGoSources: `go list -deps` and a
// SHA-256 of every main-module source file, and `go env GOVERSION`) costs
// a process per binary and most of a warm build's time. It is kept in a
// record next to the image cache with the identity (size, times, inode) of
// everything it was computed from: the source files, the directories
// listed (a file added or removed changes a directory), go.mod, go.sum,
// go.work wherever Go would look for one, and the go command itself; and
// keyed by the environment Go reads. A record is used only when every one
// of those is unchanged, so an edit anywhere the tag looks recomputes it,
// as does anything the record does not know about (no record, another
// version). Like git's index, a record whose newest input changed less
// than racyWindow before it was made is not written: a second edit within
// the file system's timestamp granularity could otherwise go unseen.

const (
	goRecordVersion = "keel go-sources record v1"
	racyWindow      = 2 * time.Second
)

// recordClock is the time a record is made at; tests move it forward to
// record files they have just written.
var recordClock = time.Now

// fileID is what a record remembers of one input.
type fileID struct {
	Path string
	// Absent is set when the path did not exist (go.work candidates).
	Absent bool  `json:",omitempty"`
	Size   int64 `json:",omitempty"`
	Mtime  int64 `json:",omitempty"` // nanoseconds
	Ctime  int64 `json:",omitempty"` // nanoseconds
	Ino    uint64
}

// goRecord is one cached result.
type goRecord struct {
	Version string
	Inputs  []fileID
	// Output is what the computation wrote into the tag's hash.
	Output []byte
}

// identify stats p (following symlinks); a missing path is Absent.
func identify(p string) (fileID, error) {
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fileID{Path: p, Absent: true}, nil
	}
	if err != nil {
		return fileID{}, err
	}
	id := fileID{Path: p, Size: st.Size(), Mtime: st.ModTime().UnixNano()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		id.Ctime = time.Unix(sys.Ctim.Unix()).UnixNano()
		id.Ino = sys.Ino
	}
	return id, nil
}

// inputs collects the identities of what a computation reads, each taken
// before the file is read.
type inputs struct {
	ids  []fileID
	seen map[string]bool
	err  error
}

func (in *inputs) add(p string) {
	if in.seen == nil {
		in.seen = map[string]bool{}
	}
	if in.seen[p] || in.err != nil {
		return
	}
	in.seen[p] = true
	id, err := identify(p)
	if err != nil {
		in.err = err
		return
	}
	in.ids = append(in.ids, id)
}

// racy reports whether an input changed so recently that a second change
// within the clock's granularity would leave its identity unchanged.
func (in *inputs) racy(now time.Time) bool {
	for _, id := range in.ids {
		if now.Sub(time.Unix(0, max(id.Mtime, id.Ctime))) < racyWindow {
			return true
		}
	}
	return false
}

// goToolInputs adds what decides the go command's behaviour besides the
// environment: the go binary, go.mod, go.sum, and go.work in root and
// every directory above it (where Go looks for a workspace).
func goToolInputs(in *inputs, root string) {
	if p, err := exec.LookPath("go"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		in.add(p)
	} else {
		in.err = err
	}
	in.add(filepath.Join(root, "go.mod"))
	in.add(filepath.Join(root, "go.sum"))
	for d := root; ; d = filepath.Dir(d) {
		in.add(filepath.Join(d, "go.work"))
		if filepath.Dir(d) == d {
			break
		}
	}
}

// goEnvKey is the part of the environment the go command reads.
func goEnvKey(env []string) string {
	var keep []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "GO"), strings.HasPrefix(k, "CGO_"), strings.HasPrefix(k, "PKG_CONFIG"),
			k == "CC", k == "CXX", k == "AR", k == "PATH", k == "HOME", k == "XDG_CONFIG_HOME":
			keep = append(keep, kv)
		}
	}
	sort.Strings(keep)
	return strings.Join(keep, "\x00")
}

// cachedGo returns compute's output from the record named by key in dir
// when every input it recorded is unchanged; otherwise it runs compute
// (which writes the output and adds its inputs) and records the result.
// An empty dir caches nothing. Problems with the record itself only cost
// the cache: the result is then computed.
func cachedGo(dir, key string, compute func(w io.Writer, in *inputs) error) ([]byte, error) {
	if dir == "" {
		var buf bytes.Buffer
		err := compute(&buf, &inputs{})
		return buf.Bytes(), err
	}
	sum := sha256.Sum256([]byte(goRecordVersion + "\x00" + key))
	file := filepath.Join(dir, hex.EncodeToString(sum[:16])+".json")
	if out, ok := readGoRecord(file); ok {
		return out, nil
	}
	var buf bytes.Buffer
	in := &inputs{}
	if err := compute(&buf, in); err != nil {
		return nil, err
	}
	if in.err == nil && !in.racy(recordClock()) {
		writeGoRecord(dir, file, goRecord{Version: goRecordVersion, Inputs: in.ids, Output: buf.Bytes()})
	}
	return buf.Bytes(), nil
}

// readGoRecord returns a record's output if all its inputs are unchanged.
func readGoRecord(file string) ([]byte, bool) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, false
	}
	var rec goRecord
	if json.Unmarshal(raw, &rec) != nil || rec.Version != goRecordVersion || len(rec.Inputs) == 0 {
		return nil, false
	}
	for _, want := range rec.Inputs {
		got, err := identify(want.Path)
		if err != nil || got != want {
			return nil, false
		}
	}
	return rec.Output, true
}

func writeGoRecord(dir, file string, rec goRecord) {
	raw, err := json.Marshal(rec)
	if err != nil {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	// 0o600: the mode records have always had (os.CreateTemp's).
	atomicfile.WriteFile(file, raw, 0o600) //nolint:errcheck // a record is a hint; without it the next build redoes the work
}

// goSourcesHash is hashGoSources through the record cache in dir.
func goSourcesHash(ctx context.Context, dir, root string, g GoBinary, arch string) ([]byte, error) {
	env, err := goEnv(g, arch)
	if err != nil {
		return nil, err
	}
	opts, _ := json.Marshal(g)
	key := fmt.Sprintf("sources\x00%s\x00%s\x00%s\x00%s", root, arch, opts, goEnvKey(env))
	return cachedGo(dir, key, func(w io.Writer, in *inputs) error {
		goToolInputs(in, root)
		return hashGoSources(ctx, w, root, g, arch, in)
	})
}

// goVersionCached is goVersion through the record cache in dir.
func goVersionCached(ctx context.Context, dir, root string) (string, error) {
	key := fmt.Sprintf("version\x00%s\x00%s", root, goEnvKey(os.Environ()))
	out, err := cachedGo(dir, key, func(w io.Writer, in *inputs) error {
		goToolInputs(in, root)
		v, err := goVersion(ctx, root)
		io.WriteString(w, v)
		return err
	})
	return string(out), err
}
