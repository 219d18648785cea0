package main

import (
	"errors"
	"fmt"
	"log"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// handshakeTimeout bounds how long a client may take to authenticate, so
// idle scanners do not pile up connections.
const handshakeTimeout = 30 * time.Second

// Server accepts SSH connections for root, authenticated by public key only.
type Server struct {
	HostKeys       []ssh.Signer
	AuthorizedKeys AuthorizedKeys
	Shell          string   // runs login shells and commands
	Env            []string // base environment of sessions
	Dir            string   // working directory of sessions
	Log            *log.Logger
}

func (s *Server) config() *ssh.ServerConfig {
	c := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			fp := ssh.FingerprintSHA256(key)
			if meta.User() != "root" {
				s.Log.Printf("auth failure: user %q from %s: only root may log in", meta.User(), meta.RemoteAddr())
				return nil, fmt.Errorf("user %q may not log in", meta.User())
			}
			if !s.AuthorizedKeys.Allows(key) {
				s.Log.Printf("auth failure: %s key %s from %s is not in %v", key.Type(), fp, meta.RemoteAddr(), []string(s.AuthorizedKeys))
				return nil, errors.New("key not authorized")
			}
			return &ssh.Permissions{Extensions: map[string]string{"fingerprint": fp}}, nil
		},
		ServerVersion: "SSH-2.0-Keel",
	}
	for _, k := range s.HostKeys {
		c.AddHostKey(k)
	}
	return c
}

// Serve accepts connections on l until it is closed.
func (s *Server) Serve(l net.Listener) error {
	config := s.config()
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accepting connections: %w", err)
		}
		go s.handle(conn, config)
	}
}

func (s *Server) handle(nc net.Conn, config *ssh.ServerConfig) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(nc, config)
	if err != nil {
		s.Log.Printf("connection from %s closed before login: %v", nc.RemoteAddr(), err)
		return
	}
	_ = nc.SetDeadline(time.Time{})
	s.Log.Printf("root logged in from %s with key %s", conn.RemoteAddr(), conn.Permissions.Extensions["fingerprint"])
	defer func() { s.Log.Printf("connection from %s closed", conn.RemoteAddr()) }()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "only session channels are supported")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			s.Log.Printf("accepting a session from %s: %v", conn.RemoteAddr(), err)
			continue
		}
		sess := &session{srv: s, ch: ch, remote: conn.RemoteAddr(), local: conn.LocalAddr()}
		go sess.serve(creqs)
	}
}
