package pkgbuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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

// goEnv is the environment of every go command: the target platform and
// the cgo choice, which changes both what is listed and what is built.
func goEnv(g GoBinary) []string {
	cgo := "0"
	if g.Cgo {
		cgo = "1"
	}
	return append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED="+cgo, "GOFLAGS=-buildvcs=false")
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
func hashGoSources(ctx context.Context, h io.Writer, root string, g GoBinary) error {
	args := append([]string{"list", "-deps",
		"-json=ImportPath,Dir,Module,Error,GoFiles,CgoFiles,CFiles,CXXFiles,HFiles,SFiles,SysoFiles,EmbedFiles"},
		tagsFlag(g)...)
	out, err := runGo(ctx, root, goEnv(g), append(args, g.Package)...)
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
		for _, list := range [][]string{p.GoFiles, p.CgoFiles, p.CFiles, p.CXXFiles, p.HFiles, p.SFiles, p.SysoFiles, p.EmbedFiles} {
			for _, f := range list {
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

// buildGo compiles g into out.
func buildGo(ctx context.Context, root string, g GoBinary, out string) error {
	ldflags := "-s -w"
	if g.Cgo {
		ldflags += " -extldflags -static"
	}
	args := append([]string{"build", "-trimpath", "-buildvcs=false", "-ldflags=" + ldflags, "-o", out}, tagsFlag(g)...)
	if _, err := runGo(ctx, root, goEnv(g), append(args, g.Package)...); err != nil {
		return err
	}
	return nil
}
