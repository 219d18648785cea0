// Command kubernetes-hello is the workload of Keel's Kubernetes test: an
// HTTP server that answers every request with one line naming the pod
// (POD_NAME, else the hostname), so a client can tell which pod behind a
// Service answered. With -fetch URL it also fetches URL from the pod until
// it gets an answer and adds that answer's first line to its own: the test
// gives it an address outside the cluster, to show pods reach it.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	addr := flag.String("listen", ":8080", "address to serve on")
	fetch := flag.String("fetch", "", "a URL to fetch (again every 2 s until it answers 200); its first line joins every answer")
	flag.Parse()
	name := os.Getenv("POD_NAME")
	if name == "" {
		name, _ = os.Hostname()
	}
	var got fetched
	if *fetch != "" {
		go fetchUntilOK(context.Background(), http.DefaultClient, *fetch, 2*time.Second, &got)
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           handler(name, &got),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("kubernetes-hello %s listening on %s", name, *addr)
	log.Fatal(srv.ListenAndServe())
}

// fetched holds the first line of the -fetch URL's answer, once there is one.
type fetched struct {
	mu   sync.Mutex
	line string
}

func (f *fetched) set(s string) {
	f.mu.Lock()
	f.line = s
	f.mu.Unlock()
}

func (f *fetched) get() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.line
}

// handler answers every request with the pod's name and, once the -fetch
// URL answered, that answer's first line.
func handler(name string, got *fetched) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "KUBERNETES-HELLO from %s\n", name)
		if line := got.get(); line != "" {
			fmt.Fprintf(w, "fetched: %s\n", line)
		}
	})
}

// fetchUntilOK gets url every interval until it answers 200, then keeps the
// answer's first line (at most 200 bytes) in got. Each failure is logged:
// the pod's log says why it cannot reach the URL.
func fetchUntilOK(ctx context.Context, c *http.Client, url string, interval time.Duration, got *fetched) {
	for {
		line, err := fetchLine(ctx, c, url)
		if err == nil {
			log.Printf("fetched %s: %s", url, line)
			got.set(line)
			return
		}
		log.Printf("fetch %s: %v", url, err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// fetchLine returns the first line of url's answer, which must be 200.
func fetchLine(ctx context.Context, c *http.Client, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", res.Status)
	}
	line, err := bufio.NewReader(io.LimitReader(res.Body, 200)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return "", fmt.Errorf("an empty answer")
	}
	return line, nil
}
