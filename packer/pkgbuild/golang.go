package pkgbuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// moduleRoot finds the directory holding go.mod, upward from dir.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod found in %s or above: go entries build packages of the module holding the package directory", dir)
		}
		d = parent
	}
}

// crossTriples are the GNU triples of Debian's cross toolchains
// (gcc-<triple>) and multiarch library directories, per GOARCH.
var crossTriples = map[string]string{
	"amd64": "x86_64-linux-gnu",
	"arm64": "aarch64-linux-gnu",
}

// hostArch is the architecture keel itself runs on: the one whose C
// compiler and libraries are the host's own.
func hostArch() string { return runtime.GOARCH }

// goEnv is the environment of every go command: the target platform and
// the cgo choice, which changes both what is listed and what is built. A
// cgo binary for another architecture uses Debian's cross compiler and that
// architecture's multiarch libraries (e.g. libseccomp-dev:arm64).
func goEnv(g GoBinary, arch string) ([]string, error) {
	env := append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "GOFLAGS=-buildvcs=false")
	if !g.Cgo {
		return append(env, "CGO_ENABLED=0"), nil
	}
	env = append(env, "CGO_ENABLED=1")
	if arch == hostArch() {
		return env, nil
	}
	triple, ok := crossTriples[arch]
	if !ok {
		return nil, fmt.Errorf("go package %s needs cgo, and keel knows no C cross compiler for %s", g.Package, arch)
	}
	cc := triple + "-gcc"
	if _, err := exec.LookPath(cc); err != nil {
		return nil, fmt.Errorf("go package %s needs cgo, so building it for %s needs the C cross compiler %s: install gcc-%s and the %s C libraries it links (scripts/ensure-deps.sh does, e.g. apt-get install gcc-%s libseccomp-dev:%s)",
			g.Package, arch, cc, triple, arch, triple, arch)
	}
	libdir := "/usr/lib/" + triple + "/pkgconfig"
	return append(env, "CC="+cc, "PKG_CONFIG_LIBDIR="+libdir+":/usr/share/pkgconfig"), nil
}

// checkX refuses link-time variables the linker would misread: a name
// that is not importpath.name, or a value with white space or quotes,
// which -ldflags would split or unquote.
func checkX(x map[string]string) error {
	for name, value := range x {
		dot := strings.LastIndex(name, ".")
		if dot <= 0 || dot == len(name)-1 || strings.ContainsAny(name, " \t\n'\"=") {
			return fmt.Errorf("%q is not importpath.name, like k8s.io/component-base/version.gitVersion", name)
		}
		if strings.ContainsAny(value, " \t\n'\"") {
			return fmt.Errorf("the value of %s, %q, has white space or a quote, which -ldflags -X cannot carry", name, value)
		}
	}
	return nil
}

// xFlags turns x into -X options for -ldflags, sorted so that the command
// line, like the binary, is the same on every build.
func xFlags(x map[string]string) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(x)) {
		fmt.Fprintf(&b, " -X %s=%s", name, x[name])
	}
	return b.String()
}

func tagsFlag(g GoBinary) []string {
	if len(g.Tags) == 0 {
		return nil
	}
	return []string{"-tags", strings.Join(g.Tags, ",")}
}

// runGo runs the go command in dir and returns stdout; on failure the
// error carries the compiler's output.
func runGo(ctx context.Context, dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("go %s failed:\n%s", strings.Join(args, " "), msg)
	}
	return stdout.Bytes(), nil
}

func goVersion(ctx context.Context, root string) (string, error) {
	out, err := runGo(ctx, root, os.Environ(), "env", "GOVERSION")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

type listedPackage struct {
	ImportPath string
	Dir        string
	Module     *struct{ Main bool }
	Error      *struct{ Err string }
	GoFiles, CgoFiles, CFiles, CXXFiles, HFiles, SFiles, SysoFiles,
	EmbedFiles []string
}

// hashGoSources feeds h the content of every source file of g's dependency
// closure that lives in the main module, plus go.mod and go.sum, which pin
// everything outside it. The standard library is covered by the Go version.
//
// Every file and package directory it reads is added to in before it is
// read, for the record cache.
func hashGoSources(ctx context.Context, h io.Writer, root string, g GoBinary, arch string, in *inputs) error {
	env, err := goEnv(g, arch)
	if err != nil {
		return err
	}
	args := append([]string{"list", "-deps",
		"-json=ImportPath,Dir,Module,Error,GoFiles,CgoFiles,CFiles,CXXFiles,HFiles,SFiles,SysoFiles,EmbedFiles"},
		tagsFlag(g)...)
	out, err := runGo(ctx, root, env, append(args, g.Package)...)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("reading go list output: %w", err)
		}
		if p.Error != nil {
			return fmt.Errorf("package %s: %s", p.ImportPath, p.Error.Err)
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		fmt.Fprintf(h, "pkg %s\n", p.ImportPath)
		in.add(p.Dir)
		for _, list := range [][]string{p.GoFiles, p.CgoFiles, p.CFiles, p.CXXFiles, p.HFiles, p.SFiles, p.SysoFiles, p.EmbedFiles} {
			for _, f := range list {
				// The directory too: an embedded directory's new file
				// shows there.
				in.add(filepath.Dir(filepath.Join(p.Dir, f)))
				in.add(filepath.Join(p.Dir, f))
				if err := hashFile(h, filepath.Join(p.Dir, f), f); err != nil {
					return err
				}
			}
		}
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		err := hashFile(h, filepath.Join(root, f), f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// buildGo compiles g for arch into out.
func buildGo(ctx context.Context, root string, g GoBinary, arch, out string) error {
	env, err := goEnv(g, arch)
	if err != nil {
		return err
	}
	ldflags := "-s -w"
	if g.Cgo {
		ldflags += " -extldflags -static"
	}
	ldflags += xFlags(g.X)
	args := append([]string{"build", "-trimpath", "-buildvcs=false", "-ldflags=" + ldflags, "-o", out}, tagsFlag(g)...)
	if _, err := runGo(ctx, root, env, append(args, g.Package)...); err != nil {
		return err
	}
	return nil
}
