package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/keel-os/keel/packer/progress"
)

// Pull policies, as `keel build --pull` spells them.
const (
	// PullMissing fetches only images that are not in the cache (default,
	// what `linuxkit build` does).
	PullMissing = "missing"
	// PullAlways re-resolves every tag against its registry; blobs already
	// in the cache are not downloaded again. Digest references are
	// immutable, so a cached one is never re-fetched.
	PullAlways = "always"
	// PullNever uses the cache only.
	PullNever = "never"
)

// CheckPullPolicy says whether p is a pull policy Keel knows.
func CheckPullPolicy(p string) error {
	switch p {
	case PullMissing, PullAlways, PullNever:
		return nil
	}
	return fmt.Errorf("unknown pull policy %q: want %s, %s or %s", p, PullMissing, PullAlways, PullNever)
}

// Puller fetches images from registries into a Cache.
type Puller struct {
	Cache *Cache
	// Keychain finds credentials; nil means the Docker config file
	// (~/.docker/config.json, $DOCKER_CONFIG) and its credential helpers.
	Keychain authn.Keychain
	// Transport is the HTTP transport (tests); nil means the default.
	Transport http.RoundTripper
	// Jobs bounds concurrent pulls; 0 means 4.
	Jobs int
	// Progress receives each pull's bytes and a step when it is done;
	// nil reports nothing.
	Progress progress.Reporter
	// Arch is the architecture whose variant of a multi-platform image is
	// pulled and looked for in the cache; empty means amd64.
	Arch string
}

func (p *Puller) options(ctx context.Context) []remote.Option {
	kc := p.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithPlatform(v1.Platform{OS: OS, Architecture: archOr(p.Arch)}),
	}
	if p.Transport != nil {
		opts = append(opts, remote.WithTransport(p.Transport))
	}
	return opts
}

// Pull fetches ref from its registry and stores it in the cache under ref.
// A multi-platform index resolves to its linux/<Arch> image; an image (or
// index) without one is refused, naming the image. Every blob is
// checked against its digest as it is written, and a reference pinned with
// @sha256: must match the manifest (or index) the registry returns. Plain
// HTTP is used for loopback registries (localhost, 127.0.0.1, ::1).
func (p *Puller) Pull(ctx context.Context, ref string) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	img, err := remote.Image(r, p.options(ctx)...)
	if err != nil {
		return fmt.Errorf("pulling %s: %w", r.Name(), explain(err))
	}
	// A single-platform image is returned whatever its platform: check it
	// here, before anything is stored.
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("pulling %s: %w", r.Name(), err)
	}
	// The image's digest in the registry, which its attestations name
	// (the one stored differs when its config gets a platform below).
	orig, err := img.Digest()
	if err != nil {
		return fmt.Errorf("pulling %s: %w", r.Name(), err)
	}
	if want := archOr(p.Arch); cf.Architecture != "" && cf.Architecture != want {
		return fmt.Errorf("image %s has no %s/%s variant (it is %s/%s): use an image built for %s", r.Name(), OS, want, cf.OS, cf.Architecture, want)
	} else if cf.Architecture == "" {
		// The index entry chose it for want; the cache keys by the config.
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = OS, want
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return fmt.Errorf("pulling %s: %w", r.Name(), err)
		}
	}
	// The total is what the manifest lists; layers already in the cache
	// are not fetched, so the count may end short of it.
	var total int64
	if m, err := img.Manifest(); err == nil {
		for _, l := range m.Layers {
			total += l.Size
		}
	}
	rep := progress.Or(p.Progress)
	task := rep.Start(progress.Pull, r.Name(), total)
	var fetched atomic.Int64
	err = p.Cache.put(r.Name(), img, func(n int64) {
		fetched.Add(n)
		task.Add(n)
	})
	task.Done(err)
	if err != nil {
		return fmt.Errorf("pulling %s: %w", r.Name(), err)
	}
	if err := p.pullSBOM(ctx, r, orig, img); err != nil {
		return fmt.Errorf("pulling %s: reading its SBOM attestation: %w", r.Name(), explain(err))
	}
	rep.Step(progress.Step{Kind: progress.Pull, Name: r.Name(), Size: fetched.Load()})
	return nil
}

// explain adds a hint to the registry errors users most often meet.
func explain(err error) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	switch te.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w (log in with `docker login`: Keel reads ~/.docker/config.json)", err)
	case http.StatusNotFound:
		return fmt.Errorf("%w (check the name and tag)", err)
	}
	return err
}

// Ensure makes every ref available in the cache according to policy,
// pulling at most Jobs images at a time. References that start with "@"
// (templates such as @pkg:) are skipped. All failures are reported
// together, sorted.
func (p *Puller) Ensure(ctx context.Context, refs []string, policy string) error {
	if err := CheckPullPolicy(policy); err != nil {
		return err
	}
	var todo []string
	seen := map[string]bool{}
	var errs []string
	for _, ref := range refs {
		if ref == "" || ref[0] == '@' {
			continue
		}
		norm, err := Normalize(ref)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if seen[norm] {
			continue
		}
		seen[norm] = true
		has, err := p.Cache.HasArch(norm, p.Arch)
		if err != nil {
			return err
		}
		pinned := isDigest(norm)
		switch {
		case has && (policy != PullAlways || pinned):
		case policy == PullNever:
			what := "is not in the cache"
			if other, _ := p.Cache.lookup(norm, ""); other != nil {
				what = fmt.Sprintf("has no %s/%s variant in the cache", OS, archOr(p.Arch))
			}
			errs = append(errs, fmt.Sprintf("image %s %s %s and --pull=never forbids fetching it (run `keel cache pull %s` or `keel cache import`)", norm, what, p.Cache.Dir(), ref))
		default:
			todo = append(todo, norm)
		}
	}
	jobs := p.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, jobs)
	for _, ref := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := p.Pull(ctx, ref); err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) == 0 {
		return nil
	}
	sort.Strings(errs)
	msg := errs[0]
	for _, e := range errs[1:] {
		msg += "\n" + e
	}
	return errors.New(msg)
}

func isDigest(norm string) bool {
	_, err := name.NewDigest(norm)
	return err == nil
}
