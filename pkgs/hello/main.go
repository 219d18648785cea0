// Command hello is a tiny long-running service: it announces itself, then
// prints a heartbeat so a person or a test can see it is alive and
// supervised. It exits 0 on SIGTERM, so a clean stop is visible too.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	every := flag.Duration("every", 30*time.Second, "heartbeat interval")
	flag.Parse()
	host, _ := os.Hostname()
	fmt.Printf("hello: service running as pid %d on %s\n", os.Getpid(), host)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	tick := time.NewTicker(*every)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case s := <-sig:
			fmt.Printf("hello: %v received after %s, exiting\n", s, time.Since(start).Round(time.Second))
			return
		case <-tick.C:
			fmt.Printf("hello: alive for %s\n", time.Since(start).Round(time.Second))
		}
	}
}
