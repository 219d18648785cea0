package push

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// azuriteVersion is the Azurite the tests install when none is on PATH.
const azuriteVersion = "3.35.0"

// azuriteKey is Azurite's well-known development account key (public,
// in Azurite's documentation): it opens the emulator only.
const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// azuriteBin finds azurite-blob: on PATH, else in $KEEL_AZURITE_DIR or
// ~/.cache/keel-test/azurite-VERSION, where npm installs it on first use
// (about a minute). Without node and npm the test is skipped.
func azuriteBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("the Azure upload tests run Azurite, which needs node and npm (Debian's nodejs and npm packages; scripts/ensure-deps.sh installs them)")
	}
	dir := os.Getenv("KEEL_AZURITE_DIR")
	if dir == "" {
		// Not $KEEL_CACHE: that is an image store keel manages.
		c, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(c, "keel-test", "azurite-"+azuriteVersion)
	}
	bin := filepath.Join(dir, "node_modules", ".bin", "azurite-blob")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("the Azure upload tests run Azurite, which needs npm to install it (Debian's npm package)")
	}
	t.Logf("installing Azurite %s into %s with npm (once; about a minute)", azuriteVersion, dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(npm, "install", "--no-audit", "--no-fund", "--prefix", dir, "azurite@"+azuriteVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install azurite@%s: %v\n%s", azuriteVersion, err, out)
	}
	return bin
}

// startAzurite runs Azurite's blob service on a free loopback port with
// its data in a temporary directory, until the test ends.
func startAzurite(t *testing.T) string {
	t.Helper()
	bin := azuriteBin(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port), "--location", dir,
		"--silent", "--skipApiVersionCheck", "--disableProductStyleUrl", "--debug", filepath.Join(dir, "debug.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Azurite: %v", err)
	}
	t.Cleanup(func() {
		// Azurite is node under a shell script: end its process group.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for start := time.Now(); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("Azurite did not listen on %s in 30 s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// blobRecorder sits in front of Azurite and records each Put Page's range,
// to prove zero runs and pages already sent are left out.
type blobRecorder struct {
	mu    sync.Mutex
	pages []string
	other []string
}

func (b *blobRecorder) reset() {
	b.mu.Lock()
	b.pages, b.other = nil, nil
	b.mu.Unlock()
}

// azuriteEnv starts Azurite behind a recorder and returns a connection
// string for its development account.
func azuriteEnv(t *testing.T) (string, *blobRecorder) {
	t.Helper()
	target, _ := url.Parse(startAzurite(t))
	rec := &blobRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		if r.URL.Query().Get("comp") == "page" {
			rec.pages = append(rec.pages, r.Header.Get("x-ms-range"))
		} else {
			rec.other = append(rec.other, r.Method+" "+r.URL.Query().Get("comp"))
		}
		rec.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;BlobEndpoint=%s/devstoreaccount1;", azuriteKey, front.URL), rec
}
