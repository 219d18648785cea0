package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Handler serves the API for b.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/containers", func(w http.ResponseWriter, r *http.Request) {
		cs := b.Containers()
		if cs == nil {
			cs = []Container{}
		}
		writeJSON(w, http.StatusOK, cs)
	})
	mux.HandleFunc("GET /v1/containers/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		for _, c := range b.Containers() {
			if c.Name == name {
				writeJSON(w, http.StatusOK, c)
				return
			}
		}
		writeError(w, http.StatusNotFound, unknown(name))
	})
	mux.HandleFunc("GET /v1/containers/{name}/logs", func(w http.ResponseWriter, r *http.Request) {
		serveLogs(w, r, b)
	})
	mux.HandleFunc("GET /v1/containers/{name}/stats", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.Stats(r.PathValue("name"))
		if err != nil {
			writeBackendError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	control := func(do func(string) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := do(r.PathValue("name")); err != nil {
				writeBackendError(w, err)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		}
	}
	mux.HandleFunc("POST /v1/containers/{name}/start", control(b.Start))
	mux.HandleFunc("POST /v1/containers/{name}/stop", control(b.Stop))
	mux.HandleFunc("POST /v1/containers/{name}/restart", control(b.Restart))
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		events, cancel := b.Subscribe()
		defer cancel()
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		flush(w)
		enc := json.NewEncoder(w)
		for {
			select {
			case e, ok := <-events:
				if !ok {
					return
				}
				if enc.Encode(e) != nil {
					return
				}
				flush(w)
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("GET /v1/dmesg", func(w http.ResponseWriter, r *http.Request) {
		recs, err := b.Kmsg()
		if err != nil {
			writeBackendError(w, err)
			return
		}
		if recs == nil {
			recs = []KmsgRecord{}
		}
		writeJSON(w, http.StatusOK, recs)
	})
	mux.HandleFunc("GET /v1/boot", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.Timeline())
	})
	power := func(do func() error, what string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := do(); err != nil {
				writeError(w, http.StatusInternalServerError, fmt.Sprintf("asking init to %s: %v", what, err))
				return
			}
			w.WriteHeader(http.StatusAccepted)
		}
	}
	mux.HandleFunc("POST /v1/poweroff", power(b.Poweroff, "power off"))
	mux.HandleFunc("POST /v1/reboot", power(b.Reboot, "reboot"))
	mux.HandleFunc("POST /v1/halt", power(b.Halt, "halt"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func unknown(name string) string {
	return fmt.Sprintf("no container named %q (svcctl list shows them)", name)
}

func writeBackendError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, ErrUnsupported):
		code = http.StatusNotImplemented
	}
	writeError(w, code, err.Error())
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// followEvery is how often a followed log is looked at for new lines.
const followEvery = 200 * time.Millisecond

// serveLogs answers a log request: ?tail=N keeps the last N lines,
// ?since=D those of the last duration D, and ?follow=1 streams the lines
// as JSON lines, then every new one, until the client goes away.
func serveLogs(w http.ResponseWriter, r *http.Request, b Backend) {
	name := r.PathValue("name")
	q := r.URL.Query()
	tail := -1
	if v := q.Get("tail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("tail=%q: want a whole number >= 0", v))
			return
		}
		tail = n
	}
	var since time.Time
	if v := q.Get("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("since=%q: want a duration such as 10m", v))
			return
		}
		since = time.Now().Add(-d)
	}
	lines, ok := b.Logs(name)
	if !ok {
		writeError(w, http.StatusNotFound, unknown(name))
		return
	}
	lines = Filter(lines, tail, since)
	if q.Get("follow") == "" {
		if lines == nil {
			lines = []LogLine{}
		}
		writeJSON(w, http.StatusOK, Logs{Name: name, Lines: lines})
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	var last uint64
	send := func(ls []LogLine) bool {
		for _, l := range ls {
			if l.Seq <= last {
				continue
			}
			if enc.Encode(l) != nil {
				return false
			}
			last = l.Seq
		}
		flush(w)
		return true
	}
	if !send(lines) {
		return
	}
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		all, _ := b.Logs(name)
		if !send(all) {
			return
		}
	}
}

// Filter keeps the lines at or after since (when set), then the last tail
// of them (when tail >= 0).
func Filter(lines []LogLine, tail int, since time.Time) []LogLine {
	if !since.IsZero() {
		i := 0
		for i < len(lines) && lines[i].Time.Before(since) {
			i++
		}
		lines = lines[i:]
	}
	if tail >= 0 && len(lines) > tail {
		lines = lines[len(lines)-tail:]
	}
	return lines
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, Error{Error: msg})
}

// Listen makes the unix socket at path, readable by root only: its
// directory is made with mode 0700, a stale socket from an earlier svcd is
// removed, and the socket itself gets mode 0600.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("making socket directory: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing stale socket: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("restricting socket %s: %w", path, err)
	}
	return l, nil
}

// Serve answers API requests for b on l until ctx is done.
func Serve(ctx context.Context, l net.Listener, b Backend) error {
	srv := &http.Server{Handler: Handler(b), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
