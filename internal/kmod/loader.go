package kmod

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotFound means no module or alias by that name is in the index.
var ErrNotFound = errors.New("kernel module not found")

// Syscalls is the part of the kernel the Loader talks to; tests fake it.
type Syscalls interface {
	// FinitModule loads the module open on fd (finit_module(2)).
	FinitModule(fd int, params string, flags int) error
	// InitModule loads a module image from memory (init_module(2)); used
	// for compressed modules, which are decompressed here.
	InitModule(image []byte, params string) error
}

// KernelSyscalls is the real Syscalls.
type KernelSyscalls struct{}

// FinitModule calls finit_module(2).
func (KernelSyscalls) FinitModule(fd int, params string, flags int) error {
	return unix.FinitModule(fd, params, flags)
}

// InitModule calls init_module(2).
func (KernelSyscalls) InitModule(image []byte, params string) error {
	return unix.InitModule(image, params)
}

type aliasEntry struct {
	pattern, prefix, module string
}

// Loader loads modules from one lib/modules/<version> directory using its
// modules.dep, modules.alias and modules.builtin. It remembers what it
// loaded and what failed, so each module is tried once. It is safe for
// concurrent use.
type Loader struct {
	dir string
	sys Syscalls

	paths   map[string]string   // module name -> path relative to dir
	deps    map[string][]string // module name -> dependency paths, modules.dep order
	aliases []aliasEntry
	builtin map[string]bool
	cfg     *Config
	// omitted and omittedAliases are the modules the image was built
	// without (OmittedFile), to name them when something wants one.
	omitted        map[string]bool
	omittedAliases []aliasEntry

	mu     sync.Mutex
	state  map[string]error // present: tried; nil error: loaded or already there
	loaded []string         // loaded by this Loader, in load order
	// loading holds a channel per module being inserted, closed when the
	// insert is over: a second caller waits for the first instead of
	// inserting the module twice.
	loading map[string]chan struct{}
}

// Open returns a Loader for the running kernel's modules under root
// (normally /lib/modules). The error wraps fs.ErrNotExist when there is no
// index for this kernel.
func Open(root string) (*Loader, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return nil, fmt.Errorf("uname: %w", err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	return NewLoader(filepath.Join(root, release), KernelSyscalls{})
}

// ParseDep reads the text of a modules.dep: for each module name, its file
// (relative to the modules directory) and the files it depends on, the
// whole closure in load order as depmod writes it.
func ParseDep(text string) (paths map[string]string, deps map[string][]string, err error) {
	paths, deps = map[string]string{}, map[string][]string{}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mod, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, nil, fmt.Errorf("modules.dep line %d: want \"path: deps...\", got %q", n+1, line)
		}
		name := NameFromPath(mod)
		paths[name] = mod
		deps[name] = strings.Fields(rest)
	}
	return paths, deps, nil
}

// NewLoader reads the index in dir (lib/modules/<version>). modules.dep is
// required; modules.alias and modules.builtin are optional.
func NewLoader(dir string, sys Syscalls) (*Loader, error) {
	l := &Loader{
		dir:     dir,
		sys:     sys,
		state:   map[string]error{},
		loading: map[string]chan struct{}{},
	}
	dep, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("read module index: %w", err)
	}
	if l.paths, l.deps, err = ParseDep(string(dep)); err != nil {
		return nil, fmt.Errorf("%s/%w", dir, err)
	}
	aliasLines, err := readLines(filepath.Join(dir, "modules.alias"))
	if err != nil {
		return nil, err
	}
	for _, line := range aliasLines {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "alias" {
			continue
		}
		l.aliases = append(l.aliases, aliasEntry{pattern: f[1], prefix: literalPrefix(f[1]), module: Normalize(f[2])})
	}
	if l.builtin, err = readBuiltin(filepath.Join(dir, "modules.builtin")); err != nil {
		return nil, err
	}
	if err := l.readOmitted(filepath.Join(dir, OmittedFile)); err != nil {
		return nil, err
	}
	return l, nil
}

// readOmitted reads the OmittedFile; a missing one means nothing was left
// out (an image with all modules, or a kernel tree not built by keel).
func (l *Loader) readOmitted(p string) error {
	lines, err := readLines(p)
	if err != nil {
		return err
	}
	l.omitted = map[string]bool{}
	for _, line := range lines {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "module":
			l.omitted[Normalize(f[1])] = true
		case len(f) == 3 && f[0] == "alias":
			l.omittedAliases = append(l.omittedAliases, aliasEntry{pattern: f[1], prefix: literalPrefix(f[1]), module: Normalize(f[2])})
		}
	}
	return nil
}

// matchOmitted returns the left-out modules whose aliases match modalias,
// as Match does for the modules present.
func (l *Loader) matchOmitted(modalias string) []string {
	return matchAliases(l.omittedAliases, modalias, l.cfg)
}

// omittedError says why nothing in the image matches name (a module name,
// an alias or a modalias), or is nil when nothing left out matches either.
func (l *Loader) omittedError(name string) error {
	// By name, as a load by name ignores the blacklist; by alias, only
	// modules the blacklist allows.
	if n := Normalize(name); l.omitted[n] {
		return &OmittedError{Module: n, For: name}
	}
	var errs []error
	for _, m := range l.matchOmitted(name) {
		errs = append(errs, &OmittedError{Module: m, For: name})
	}
	return errors.Join(errs...)
}

// IsNotExist reports whether err says a module index or module is missing.
func IsNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrNotFound)
}

// Loaded returns the modules this Loader loaded, in load order.
func (l *Loader) Loaded() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.loaded...)
}

// SetConfig makes the loader use c's options and blacklist from now on.
// Call it before loading anything: it is not synchronized with loads.
func (l *Loader) SetConfig(c *Config) { l.cfg = c }

// Blacklisted reports whether the configuration blacklists module: a load
// by name goes ahead anyway, as modprobe's does, so a caller that loads a
// list of modules that may be needed (rather than one asked for) checks.
func (l *Loader) Blacklisted(module string) bool { return l.cfg.blacklisted(Normalize(module)) }

// Match returns the modules whose alias patterns match modalias, each once,
// in modules.alias order, leaving out blacklisted modules.
func (l *Loader) Match(modalias string) []string {
	return matchAliases(l.aliases, modalias, l.cfg)
}

func matchAliases(aliases []aliasEntry, modalias string, cfg *Config) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range aliases {
		if seen[a.module] || !strings.HasPrefix(modalias, a.prefix) || cfg.blacklisted(a.module) {
			continue
		}
		if globMatch(a.pattern, modalias) {
			seen[a.module] = true
			out = append(out, a.module)
		}
	}
	return out
}

// Load loads the module called name (or, when no module has that name, the
// modules its alias matches), dependencies first. params apply to the named
// module only. A builtin or already loaded module is success.
func (l *Loader) Load(name, params string) error {
	alias := name
	name = Normalize(name)
	if l.builtin[name] {
		return nil
	}
	if _, ok := l.paths[name]; !ok {
		mods := l.Match(alias)
		if len(mods) == 0 {
			if err := l.omittedError(alias); err != nil {
				return err
			}
			return fmt.Errorf("load module %s: %w (not in %s/modules.dep nor modules.alias)", name, ErrNotFound, l.dir)
		}
		var errs []error
		for _, m := range mods {
			errs = append(errs, l.load(m, params))
		}
		return errors.Join(errs...)
	}
	return l.load(name, params)
}

// LoadAlias loads every module matching modalias and returns their names.
// No match is not an error, as most devices need no module, unless a
// module left out of the image matches: then the error is an
// *OmittedError naming it.
func (l *Loader) LoadAlias(modalias string) ([]string, error) {
	mods := l.Match(modalias)
	if len(mods) == 0 {
		return nil, l.omittedError(modalias)
	}
	var errs []error
	for _, m := range mods {
		errs = append(errs, l.load(m, ""))
	}
	return mods, errors.Join(errs...)
}

func (l *Loader) load(name, params string) error {
	deps := l.deps[name]
	// modules.dep lists users before what they use: load from the end.
	for i := len(deps) - 1; i >= 0; i-- {
		if err := l.loadOne(NameFromPath(deps[i]), deps[i], ""); err != nil {
			return fmt.Errorf("load module %s: dependency: %w", name, err)
		}
	}
	return l.loadOne(name, l.paths[name], params)
}

// loadOne loads one module file, once: concurrent callers for the same
// module wait for the first. The insert itself runs unlocked, so modules
// that do not depend on each other load side by side (a driver's probe
// can wait for its hardware for a fifth of a second).
func (l *Loader) loadOne(name, rel, params string) error {
	l.mu.Lock()
	for {
		if err, done := l.state[name]; done {
			l.mu.Unlock()
			return err
		}
		ch, busy := l.loading[name]
		if !busy {
			break
		}
		l.mu.Unlock()
		<-ch
		l.mu.Lock()
	}
	ch := make(chan struct{})
	l.loading[name] = ch
	params = l.cfg.params(name, params)
	l.mu.Unlock()

	err := l.insert(rel, params)
	inserted := err == nil
	switch {
	case errors.Is(err, unix.EEXIST):
		err = nil
	case err != nil:
		err = fmt.Errorf("load module %s (%s): %w", name, rel, err)
	}
	l.mu.Lock()
	if inserted {
		l.loaded = append(l.loaded, name)
	}
	l.state[name] = err
	delete(l.loading, name)
	close(ch)
	l.mu.Unlock()
	return err
}

func (l *Loader) insert(rel, params string) error {
	if rel == "" {
		return ErrNotFound
	}
	p := filepath.Join(l.dir, filepath.FromSlash(rel))
	if strings.HasSuffix(p, ".ko") {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return l.sys.FinitModule(int(f.Fd()), params, 0)
	}
	image, err := readModuleFile(p)
	if err != nil {
		return err
	}
	return l.sys.InitModule(image, params)
}

// Failure is a module that could not be loaded.
type Failure struct {
	Module string
	Err    error
}

// Summary says what Coldplug did.
type Summary struct {
	// Devices is how many distinct modalias strings were seen.
	Devices int
	// Loaded are the modules loaded, dependencies included, in load order.
	Loaded []string
	// Failed are modules that matched a device but did not load.
	Failed []Failure
	// NoDevice are modules that matched but refused to load because they
	// found nothing to drive (ENODEV), as CPU-feature matches such as
	// cpufreq drivers do in a VM. This is normal; udev ignores it too.
	NoDevice []string
	// Omitted are modules a device matched that the image was built
	// without, each once, with the first device's modalias.
	Omitted []OmittedError
	// Passes is how many times /sys was walked.
	Passes int
	// ScanTime is the time spent walking /sys, out of the whole coldplug.
	ScanTime time.Duration
}

// maxColdplugPasses bounds the rescans: a pass only repeats when the
// previous one loaded something (a bus driver such as virtio_pci adds the
// devices the next pass finds).
const maxColdplugPasses = 3

// ColdplugOptions tune Coldplug.
type ColdplugOptions struct {
	// CPU also loads what the CPU's feature modalias matches: accelerated
	// crypto and checksum drivers, kvm, cpufreq. Off by default because
	// none of it is needed to boot, it was 15 of the 34 modules coldplugged
	// in a QEMU guest, and the kernel asks /sbin/modprobe for a crypto
	// driver when something first uses one.
	CPU bool
}

// Coldplug loads the modules for the devices present under sysRoot (normally
// /sys), then looks again for devices the new modules created (a bus driver
// such as virtio_pci adds the virtio devices the next pass finds).
//
// Devices are found through sysRoot/bus/*/devices/*/modalias and
// sysRoot/class/*/*/modalias (input and DMI devices are class devices), plus,
// with opts.CPU, the CPU's modalias in devices/system/cpu. That is every
// modalias attribute sysfs has, and listing them is three to ten times
// cheaper than walking all of sysRoot/devices (measured under QEMU TCG:
// 0.03-0.25 s against 0.2-0.8 s per pass, depending on host load).
func (l *Loader) Coldplug(sysRoot string, opts ColdplugOptions) Summary {
	var sum Summary
	seen := map[string]bool{}
	failed := map[string]bool{}
	omitted := map[string]bool{}
	var order []string
	start := len(l.Loaded())
	for sum.Passes < maxColdplugPasses {
		scanStart := time.Now()
		fresh := newModaliases(sysRoot, seen, opts.CPU)
		sum.ScanTime += time.Since(scanStart)
		if len(fresh) == 0 {
			break
		}
		sum.Passes++
		before := len(l.Loaded())
		type task struct {
			mods []string
			errs []error
		}
		var tasks []*task
		for _, ma := range fresh {
			mods := l.Match(ma)
			if len(mods) == 0 {
				for _, m := range l.matchOmitted(ma) {
					if !omitted[m] {
						omitted[m] = true
						sum.Omitted = append(sum.Omitted, OmittedError{Module: m, For: ma})
					}
				}
				continue
			}
			tasks = append(tasks, &task{mods: mods})
			for _, m := range mods {
				order = appendOrder(order, l.deps[m], m)
			}
		}
		// One device's modules load in order (the first to bind it keeps
		// it); different devices' load side by side.
		var wg sync.WaitGroup
		sem := make(chan struct{}, coldplugWorkers)
		for _, t := range tasks {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				for _, m := range t.mods {
					t.errs = append(t.errs, l.load(m, ""))
				}
			}()
		}
		wg.Wait()
		for _, t := range tasks {
			for i, m := range t.mods {
				err := t.errs[i]
				switch {
				case err == nil || failed[m]:
				case errors.Is(err, unix.ENODEV):
					failed[m] = true
					sum.NoDevice = append(sum.NoDevice, m)
				default:
					failed[m] = true
					sum.Failed = append(sum.Failed, Failure{Module: m, Err: err})
				}
			}
		}
		if len(l.Loaded()) == before {
			break
		}
	}
	sum.Devices = len(seen)
	sum.Loaded = inOrder(l.Loaded()[start:], order)
	return sum
}

// coldplugWorkers is how many devices' modules load at once. Loading is
// mostly waiting for a driver's probe (the CD-ROM's, the IDE ports'),
// so more than the CPU count pays.
const coldplugWorkers = 4

// appendOrder appends the load order of module m (its dependencies, which
// modules.dep lists users first, then m) to order, skipping names in it.
func appendOrder(order []string, deps []string, m string) []string {
	for i := len(deps) - 1; i >= 0; i-- {
		if n := NameFromPath(deps[i]); !slices.Contains(order, n) {
			order = append(order, n)
		}
	}
	if !slices.Contains(order, m) {
		order = append(order, m)
	}
	return order
}

// inOrder returns names sorted as they appear in order, those not in it
// last: the order a sequential coldplug would have loaded them in, so the
// report does not depend on which load finished first.
func inOrder(names, order []string) []string {
	out := slices.Clone(names)
	rank := func(n string) int {
		if i := slices.Index(order, n); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(out, func(a, b string) int { return rank(a) - rank(b) })
	return out
}

// newModaliases returns, sorted, the modalias strings of the devices under
// sysRoot not yet in seen, adding them to it. Unreadable entries are
// skipped: sysfs has many.
func newModaliases(sysRoot string, seen map[string]bool, cpu bool) []string {
	var files []string
	if cpu {
		files = append(files, filepath.Join(sysRoot, "devices", "system", "cpu", "modalias"))
	}
	files = append(files, listDevices(filepath.Join(sysRoot, "bus"), "devices")...)
	files = append(files, listDevices(filepath.Join(sysRoot, "class"), "")...)
	var fresh []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		ma := string(bytes.TrimSpace(raw))
		if ma != "" && !seen[ma] {
			seen[ma] = true
			fresh = append(fresh, ma)
		}
	}
	sort.Strings(fresh)
	return fresh
}

// listDevices returns top/*/sub/*/modalias paths.
func listDevices(top, sub string) []string {
	var out []string
	groups, _ := os.ReadDir(top)
	for _, g := range groups {
		dir := filepath.Join(top, g.Name(), sub)
		devs, _ := os.ReadDir(dir)
		for _, dev := range devs {
			out = append(out, filepath.Join(dir, dev.Name(), "modalias"))
		}
	}
	return out
}
