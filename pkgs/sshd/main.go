// Command sshd is Keel's SSH server: root logs in with a public key listed in
// /run/config/ssh/authorized_keys (written by the metadata agent) or
// /root/.ssh/authorized_keys, and gets a login shell on a terminal or runs a
// command with its exit status, like OpenSSH's sshd in LinuxKit's image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/crypto/ssh"
)

func main() {
	listen := flag.String("listen", ":22", "address to listen on")
	keyDir := flag.String("host-key-dir", "/var/lib/sshd", "where a host key is generated when none of -host-keys exists")
	hostKeys := flag.String("host-keys", strings.Join(systemHostKeys, ","), "comma-separated host key files used when present")
	authKeys := flag.String("authorized-keys", "/run/config/ssh/authorized_keys,/root/.ssh/authorized_keys", "comma-separated authorized_keys files")
	shell := flag.String("shell", "/bin/sh", "shell for logins and commands")
	flag.Parse()

	logger := log.New(os.Stderr, "sshd: ", 0)
	if err := run(logger, *listen, *keyDir, split(*hostKeys), split(*authKeys), *shell); err != nil {
		logger.Print(err)
		os.Exit(1)
	}
}

func run(logger *log.Logger, listen, keyDir string, hostKeys, authKeys []string, shell string) error {
	keys, err := LoadHostKeys(hostKeys, keyDir)
	if err != nil {
		return err
	}
	home := "/root"
	if _, err := os.Stat(home); errors.Is(err, fs.ErrNotExist) {
		home = "/"
	}
	srv := &Server{
		HostKeys:       keys,
		AuthorizedKeys: authKeys,
		Shell:          shell,
		Dir:            home,
		Env: []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"HOME=" + home, "USER=root", "LOGNAME=root", "SHELL=" + shell,
		},
		Log: logger,
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (choose another address with -listen)", listen, err)
	}
	for _, k := range keys {
		logger.Printf("host key %s %s", k.PublicKey().Type(), ssh.FingerprintSHA256(k.PublicKey()))
	}
	logger.Printf("listening on %s, keys from %s", l.Addr(), strings.Join(authKeys, ", "))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() { <-ctx.Done(); l.Close() }()
	return srv.Serve(l)
}

func split(list string) []string {
	var out []string
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
