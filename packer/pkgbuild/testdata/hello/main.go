// Command hello is the pkgbuild test fixture's program.
package main

import "fmt"

func main() { fmt.Println("hello from a keel package") }
