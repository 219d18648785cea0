//go:build !amd64 && !arm64

package main

// hardwareSource: no instruction is known on this architecture.
func hardwareSource(_, _ bool) (source, string) { return nil, "" }
