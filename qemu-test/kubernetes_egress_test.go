package qemutest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The pod network's ways in and out of a node, as TestKubernetesCluster
// checks them with one pod on the worker (the probe): it fetches a URL
// outside the cluster (the bridge plugin's ipMasq) and is reached at its
// hostPort through the worker's published port (the portmap plugin).

// probeHostPort is the probe's hostPort on the worker.
const probeHostPort = 8090

// outsideServer is an HTTP server on the host's loopback: outside the
// cluster. QEMU's user network maps its gateway, 10.0.2.2, to the host's
// 127.0.0.1, so a pod reaches it at 10.0.2.2:port, but only masqueraded
// as its node: the user network answers only addresses it gave out
// (a reply to a pod's address finds no one to take it).
type outsideServer struct {
	port  int
	token string
	hits  atomic.Int32 // requests that named token
}

// startOutside serves "EGRESS-OK TOKEN" at /egress/TOKEN on a free port of
// 127.0.0.1, TOKEN random, until the test ends.
func startOutside(t *testing.T) *outsideServer {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	o := &outsideServer{token: hex.EncodeToString(b)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.port = l.Addr().(*net.TCPAddr).Port
	mux := http.NewServeMux()
	mux.HandleFunc("/egress/"+o.token, func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		fmt.Fprintln(w, o.answer())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return o
}

// url is where a pod finds the server: through the user network's gateway.
func (o *outsideServer) url() string {
	return fmt.Sprintf("http://10.0.2.2:%d/egress/%s", o.port, o.token)
}

func (o *outsideServer) answer() string { return "EGRESS-OK " + o.token }

// probeManifest is a pod on the worker that fetches url (kubernetes-hello
// -fetch) and serves on the worker's probeHostPort.
func probeManifest(url string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: probe
spec:
  nodeSelector: {kubernetes.io/hostname: w1}
  containers:
    - name: probe
      image: keel.local/kubernetes-hello:v1
      imagePullPolicy: Never
      args: ["-fetch", %q]
      env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
      ports:
        - containerPort: 8080
          hostPort: %d
`, url, probeHostPort)
}

// waitForProbe waits until the probe answers at the worker's published
// hostPort (host port published) with the outside server's answer, which
// it fetched from inside the pod, and checks the server counted more
// requests than before.
func waitForProbe(ctx context.Context, t *testing.T, o *outsideServer, published int, before int32, diag func() string) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/", published)
	want := "KUBERNETES-HELLO from probe\nfetched: " + o.answer() + "\n"
	waitFor(ctx, t, "the probe pod answering at its hostPort with what it fetched outside the cluster", 5*time.Second, func() (bool, string) {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, body, err := fetch(actx, url)
		return err == nil && body == want, fmt.Sprintf("%q %v", body, err)
	}, diag)
	if n := o.hits.Load(); n <= before {
		t.Fatalf("the probe answered %q, but the outside server counted %d requests (before: %d)", want, n, before)
	}
}

// probeDiag is what a failed probe check shows: the probe's log (each
// failed fetch and why) and the cluster's state.
func probeDiag(k func(args ...string) (string, error), diag func() string) func() string {
	return func() string {
		out, err := k("logs", "probe", "--tail", "20")
		return strings.TrimSpace(fmt.Sprintf("probe's log (%v):\n%s", err, out)) + "\n" + diag()
	}
}
