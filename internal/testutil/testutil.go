// Package testutil holds helpers that tests in several packages share: reading
// tar streams and serving an in-memory registry. Only tests import it.
package testutil

import (
	"archive/tar"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TarEntry is one entry of a tar stream: its header and its body.
type TarEntry struct {
	Header *tar.Header
	Data   []byte
}

// ReadTar reads every entry of r, in order; a broken stream fails the
// test.
func ReadTar(t testing.TB, r io.Reader) []TarEntry {
	t.Helper()
	var out []TarEntry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading tar entry %s: %v", h.Name, err)
		}
		out = append(out, TarEntry{Header: h, Data: b})
	}
}

// TarFiles is ReadTar as a map from entry name to body.
func TarFiles(t testing.TB, r io.Reader) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, e := range ReadTar(t, r) {
		out[e.Header.Name] = e.Data
	}
	return out
}

// RegistryHandler is an empty in-memory OCI registry that logs nothing.
func RegistryHandler() http.Handler {
	return registry.New(registry.Logger(log.New(io.Discard, "", 0)))
}

// Registry serves RegistryHandler over HTTP for the test's life and
// returns its host:port.
func Registry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(RegistryHandler())
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Push writes img to the registry as ref (host:port/repo:tag).
func Push(t testing.TB, ref string, img v1.Image) {
	t.Helper()
	n, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(n, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}
