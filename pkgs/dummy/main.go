// Command dummy is the program of the trivial dummy image: it prints the
// image's /infile and exits 0, proving the container ran from its image.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	f, err := os.Open("/infile")
	if err != nil {
		fmt.Fprintf(os.Stderr, "dummy: %v\n", err)
		os.Exit(1)
	}
	defer f.Close()
	// The image's file is a line; read no more than a page of it.
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		fmt.Fprintf(os.Stderr, "dummy: read /infile: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("dummy: /infile says %q\n", strings.TrimSpace(string(b)))
}
