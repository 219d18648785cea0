// Command kubernetes-hello is the workload of Keel's Kubernetes test: an
// HTTP server that answers every request with one line naming the pod
// (POD_NAME, else the hostname), so a client can tell which pod behind a
// Service answered.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("listen", ":8080", "address to serve on")
	flag.Parse()
	name := os.Getenv("POD_NAME")
	if name == "" {
		name, _ = os.Hostname()
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           handler(name),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("kubernetes-hello %s listening on %s", name, *addr)
	log.Fatal(srv.ListenAndServe())
}

// handler answers every request with the pod's name.
func handler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "KUBERNETES-HELLO from %s\n", name)
	})
}
