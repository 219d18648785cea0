// Command httpd serves the files of one directory over HTTP and logs each
// request. It is the web server of examples/web.yml: static pages baked
// into the image or bound in from the system.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"
	"time"
)

// statusWriter remembers what a handler answered, for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// logRequests wraps h so every request is logged with its answer, in the
// order of a common log line: client, method, path, status, size, time.
func logRequests(logger *log.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		logger.Printf("%s %s %s %d %d %s", r.RemoteAddr, r.Method, r.URL.RequestURI(), sw.status, sw.bytes, time.Since(start).Round(time.Microsecond))
	})
}

// options are httpd's flags. The zero value of each bool is the safe
// default: a served directory is published as files, nothing more.
type options struct {
	dir, addr string
	// followSymlinks lets a symlink lead out of dir (otherwise only links
	// that stay inside it are followed).
	followSymlinks bool
	// dotfiles serves names starting with "." (otherwise only
	// /.well-known/, RFC 8615's registered place, is served).
	dotfiles bool
	// listings lists a directory without an index.html (otherwise 404).
	listings bool
	// Timeouts of the server; 0 means none.
	readHeaderTimeout, readTimeout, writeTimeout, idleTimeout time.Duration
}

// fileSystem is what handler serves: dir through an os.Root, so no path
// or symlink reaches outside it, unless o.followSymlinks.
func fileSystem(o options) (http.FileSystem, io.Closer, error) {
	if o.followSymlinks {
		return http.Dir(o.dir), io.NopCloser(nil), nil // nothing to close
	}
	root, err := os.OpenRoot(o.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot serve %s: %w", o.dir, err)
	}
	return confined{http.FS(root.FS())}, root, nil
}

// confined answers a path that would leave the root (a symlink out) as
// not found, like a file that is not there, rather than as a server error.
type confined struct{ http.FileSystem }

func (c confined) Open(name string) (http.File, error) {
	f, err := c.FileSystem.Open(name)
	if err != nil && !errors.Is(err, fs.ErrPermission) {
		return nil, fs.ErrNotExist
	}
	return f, err
}

// noListings hides directories that have no index.html, so the file server
// answers 404 rather than listing them.
type noListings struct{ http.FileSystem }

func (n noListings) Open(name string) (http.File, error) {
	f, err := n.FileSystem.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		idx, err := n.FileSystem.Open(path.Join(name, "index.html"))
		if err != nil {
			f.Close()
			return nil, os.ErrNotExist
		}
		idx.Close()
	}
	return f, nil
}

// hidden says whether a cleaned URL path names a dotfile or passes through
// a dot directory, other than /.well-known/.
func hidden(p string) bool {
	for i, part := range strings.Split(strings.TrimPrefix(path.Clean("/"+p), "/"), "/") {
		if strings.HasPrefix(part, ".") && !(i == 0 && part == ".well-known") {
			return true
		}
	}
	return false
}

// handler serves o.dir. Only GET and HEAD make sense for static files.
func handler(o options, logger *log.Logger) (http.Handler, io.Closer, error) {
	fsys, closer, err := fileSystem(o)
	if err != nil {
		return nil, nil, err
	}
	if !o.listings {
		fsys = noListings{fsys}
	}
	files := http.FileServer(fsys)
	return logRequests(logger, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !o.dotfiles && hidden(r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})), closer, nil
}

// newServer is the server for h with o's timeouts, so a client that sends
// slowly, reads slowly or idles cannot hold a connection forever.
func newServer(o options, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.readHeaderTimeout,
		ReadTimeout:       o.readTimeout,
		WriteTimeout:      o.writeTimeout,
		IdleTimeout:       o.idleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	flags := flag.NewFlagSet("httpd", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&o.dir, "dir", "/var/www", "directory to serve")
	flags.StringVar(&o.addr, "addr", ":80", "address to listen on")
	flags.BoolVar(&o.followSymlinks, "follow-symlinks", false, "follow symlinks that lead out of the directory")
	flags.BoolVar(&o.dotfiles, "dotfiles", false, "serve files and directories whose names start with '.' (/.well-known/ always is)")
	flags.BoolVar(&o.listings, "listings", false, "list directories that have no index.html")
	flags.DurationVar(&o.readHeaderTimeout, "read-header-timeout", 10*time.Second, "time to read a request's headers (0: none)")
	flags.DurationVar(&o.readTimeout, "read-timeout", 30*time.Second, "time to read a whole request (0: none)")
	flags.DurationVar(&o.writeTimeout, "write-timeout", 5*time.Minute, "time to write a response, from the end of the request's headers (0: none)")
	flags.DurationVar(&o.idleTimeout, "idle-timeout", 2*time.Minute, "time a kept-alive connection may sit idle (0: the read timeout)")
	if err := flags.Parse(args); err != nil {
		return o, err
	}
	if flags.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q: the directory is given with -dir", flags.Args())
	}
	for _, d := range []time.Duration{o.readHeaderTimeout, o.readTimeout, o.writeTimeout, o.idleTimeout} {
		if d < 0 {
			return o, fmt.Errorf("a timeout of %s: want 0 (none) or more", d)
		}
	}
	return o, nil
}

func run(args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if st, err := os.Stat(o.dir); err != nil || !st.IsDir() {
		return fmt.Errorf("cannot serve %s: it is not a directory (bind one there or pass -dir)", o.dir)
	}
	logger := log.New(stderr, "httpd: ", 0)
	h, closer, err := handler(o, logger)
	if err != nil {
		return err
	}
	defer closer.Close()

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	srv := newServer(o, h)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		// Let requests in flight finish, but not hold up a power-off.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	logger.Printf("serving %s on %s", o.dir, ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "httpd:", err)
		os.Exit(1)
	}
}
