package boot

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keel-os/keel/internal/kmod"
	"github.com/keel-os/keel/internal/layout"
)

// As /sbin/modprobe, /init is the kernel's module helper: when something
// needs a module that is not loaded (`mount -t overlay`, a crypto
// algorithm, a network protocol), the kernel runs `/sbin/modprobe -q --
// ALIAS` (see /proc/sys/kernel/modprobe). Without it those requests fail
// and every such module would have to be listed in /etc/modules.

// modprobeArgs is a parsed modprobe command line.
type modprobeArgs struct {
	quiet  bool
	name   string
	params string
}

// parseModprobe reads the subset of modprobe's arguments the kernel and
// people use: -q, -v (ignored), --, NAME [param=value ...].
func parseModprobe(args []string) (modprobeArgs, error) {
	var m modprobeArgs
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		switch a {
		case "-q", "--quiet":
			m.quiet = true
		case "-v", "--verbose", "-b", "--use-blacklist":
		default:
			if strings.HasPrefix(a, "-") {
				return m, fmt.Errorf("option %s is not supported (Keel's modprobe only loads: modprobe [-q] NAME [param=value...])", a)
			}
			rest = append(rest, a)
		}
	}
	if len(rest) == 0 {
		return m, fmt.Errorf("no module named: modprobe [-q] NAME [param=value...]")
	}
	m.name, m.params = rest[0], strings.Join(rest[1:], " ")
	return m, nil
}

// openLoader opens the module index of the running kernel with the module
// options of /etc/modprobe.d, /lib/modprobe.d and the kernel command line.
func openLoader() (*kmod.Loader, error) {
	l, err := kmod.Open(layout.ModulesDir)
	if err != nil {
		return nil, err
	}
	cfg, err := kmod.ReadConfig("/etc/modprobe.d", "/lib/modprobe.d")
	if err != nil {
		klog.Printf("modules: %v (going on without it)", err)
		cfg = &kmod.Config{}
	}
	if raw, err := os.ReadFile("/proc/cmdline"); err == nil {
		cfg.AddCmdline(string(raw))
	}
	l.SetConfig(cfg)
	return l, nil
}

// ModprobeMain runs /init as modprobe and returns the exit status.
func ModprobeMain(args []string) int {
	m, err := parseModprobe(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "modprobe: %v\n", err)
		return 2
	}
	l, err := openLoader()
	if err == nil {
		err = l.Load(m.name, m.params)
	}
	if err != nil {
		if oe, ok := kmod.IsOmitted(err); ok {
			// The kernel always asks with -q and nobody reads a helper's
			// stderr: a module the image was built without is said once
			// in the kernel log, so no request for it fails silently.
			reportOmitted(omittedMarkDir, "/dev/kmsg", oe)
		}
		if !m.quiet {
			fmt.Fprintf(os.Stderr, "modprobe: %v\n", err)
		}
		return 1
	}
	return 0
}

// omittedMarkDir remembers which left-out modules were already reported,
// so repeated requests (each socket of a missing family asks again) log
// once per boot.
const omittedMarkDir = "/run/keel/modprobe-omitted"

// reportOmitted writes oe to the kernel log (kmsg) at warning level,
// once per module per boot (markDir holds one file per module reported).
func reportOmitted(markDir, kmsg string, oe *kmod.OmittedError) {
	if err := os.MkdirAll(markDir, 0o755); err == nil {
		f, err := os.OpenFile(filepath.Join(markDir, filepath.Base(oe.Module)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return // reported before
		}
		f.Close()
	}
	w, err := os.OpenFile(kmsg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	defer w.Close()
	// <12>: facility user, level warning; one write is one record.
	fmt.Fprintf(w, "<12>modprobe: %v\n", oe)
}

// IsModprobe reports whether argv[0] names modprobe.
func IsModprobe(args []string) bool {
	return len(args) > 0 && filepath.Base(args[0]) == "modprobe"
}
