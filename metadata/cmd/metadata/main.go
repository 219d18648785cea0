// Command metadata is Keel's metadata agent, run as an onboot container: it
// finds where the system runs, writes /run/config in LinuxKit's layout and
// sets the hostname. The provider comes from the command's arguments (as in
// LinuxKit: `metadata aws`), else keel.metadata=NAME on the kernel command
// line, else probing.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/keel-os/keel/internal/kmod"
	"github.com/keel-os/keel/metadata"
	"golang.org/x/sys/unix"
)

func main() {
	configDir := flag.String("config", "/run/config", "directory to write")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	log := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "metadata: "+format+"\n", args...) }

	sel := strings.Join(flag.Args(), ",")
	from := "arguments"
	if sel == "" {
		sel, from = metadata.Selection(metadata.ReadCmdline()), "kernel command line"
	}
	if sel == "" {
		from = "probing"
	}
	env := metadata.DefaultEnv()
	env.ConfigDir = *configDir
	env.SetHostname = func(h string) error { return unix.Sethostname([]byte(h)) }
	env.LoadModule = moduleLoader(log)
	providers, err := metadata.Providers(sel, env, metadata.DefaultLimits, log)
	if err != nil {
		log("%v", err)
		os.Exit(2)
	}
	log("providers from %s: %s", from, names(providers))
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := metadata.Run(ctx, providers, env, metadata.DefaultLimits, metadata.DefaultTiming, log); err != nil {
		// No metadata is normal on a laptop or in QEMU without data: say
		// so and leave the system as it is.
		log("%v", err)
		return
	}
}

func names(ps []metadata.Provider) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Name())
	}
	return strings.Join(s, ",")
}

// moduleLoader loads modules from /lib/modules when the kernel did not
// load them on demand; it opens the index on first use.
func moduleLoader(log func(string, ...any)) func(string) error {
	var l *kmod.Loader
	return func(name string) error {
		if l == nil {
			var err error
			if l, err = kmod.Open("/lib/modules"); err != nil {
				return err
			}
		}
		return l.Load(name, "")
	}
}
