// Command image-import puts image archives into containerd without a
// registry: every *.tar (docker save layout) in the directories it is
// given is imported into a containerd namespace under the names the
// archives carry, and unpacked for the snapshotter, so that CRI finds the
// images as if pulled. A Kubernetes node runs it as a service before the
// kubelet (pkgs/kubernetes-images), with the archives keel pkg build put in
// its image.
//
//	image-import [-address SOCK] [-namespace k8s.io] [-snapshotter overlayfs] [-wait 2m] [-stay FILE] DIR...
//
// With -stay it writes FILE when done and waits for SIGTERM, so that a
// service's healthcheck (FILE) tells the services after it the images are
// there; without, it exits 0 when done.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/platforms"
)

func main() {
	address := flag.String("address", "/run/containerd/containerd.sock", "containerd's socket")
	namespace := flag.String("namespace", "k8s.io", "containerd namespace (CRI's is k8s.io)")
	snapshotter := flag.String("snapshotter", "overlayfs", "snapshotter to unpack for (CRI's)")
	wait := flag.Duration("wait", 2*time.Minute, "how long to wait for containerd to answer")
	stay := flag.String("stay", "", "when done, write this file and wait for SIGTERM")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "image-import: name at least one directory of image archives (*.tar)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, *address, *namespace, *snapshotter, *wait, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "image-import:", err)
		os.Exit(1)
	}
	if *stay == "" {
		return
	}
	if err := os.WriteFile(*stay, []byte("imported\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "image-import:", err)
		os.Exit(1)
	}
	<-ctx.Done()
}

// archives lists the *.tar files of dirs, sorted within each directory.
func archives(dirs []string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		found, err := filepath.Glob(filepath.Join(d, "*.tar"))
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			if _, err := os.Stat(d); err != nil {
				return nil, fmt.Errorf("image directory: %w", err)
			}
		}
		slices.Sort(found)
		out = append(out, found...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no image archive (*.tar) in %v", dirs)
	}
	return out, nil
}

// connect waits up to wait for containerd to answer on address.
func connect(ctx context.Context, address, namespace string, wait time.Duration) (*containerd.Client, error) {
	deadline := time.Now().Add(wait)
	for {
		c, err := containerd.New(address, containerd.WithDefaultNamespace(namespace), containerd.WithTimeout(5*time.Second))
		if err == nil {
			if _, err = c.Version(ctx); err == nil {
				return c, nil
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("containerd at %s did not answer within %s: %w", address, wait, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func run(ctx context.Context, address, namespace, snapshotter string, wait time.Duration, dirs []string) error {
	paths, err := archives(dirs)
	if err != nil {
		return err
	}
	client, err := connect(ctx, address, namespace, wait)
	if err != nil {
		return err
	}
	defer client.Close()
	for _, p := range paths {
		names, err := importArchive(ctx, client, p, snapshotter)
		if err != nil {
			return err
		}
		for _, n := range names {
			fmt.Printf("image-import: %s from %s\n", n, filepath.Base(p))
		}
	}
	return nil
}

// importArchive imports one archive for this machine's platform and
// unpacks each image it names; importing again is harmless (the content
// is already there, the names are set again).
func importArchive(ctx context.Context, client *containerd.Client, path, snapshotter string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	imgs, err := client.Import(ctx, f, containerd.WithImportPlatform(platforms.Default()))
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", path, err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("importing %s: the archive names no image", path)
	}
	var names []string
	for _, im := range imgs {
		img := containerd.NewImage(client, im)
		if err := img.Unpack(ctx, snapshotter); err != nil {
			return nil, fmt.Errorf("unpacking %s from %s for %s: %w", im.Name, path, snapshotter, err)
		}
		names = append(names, im.Name)
	}
	return names, nil
}
