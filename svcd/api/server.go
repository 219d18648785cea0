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
	mux.HandleFunc("GET /v1/containers/{name}/logs", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		lines, ok := b.Logs(name)
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no container named %q (svcctl list shows them)", name))
			return
		}
		if lines == nil {
			lines = []LogLine{}
		}
		writeJSON(w, http.StatusOK, Logs{Name: name, Lines: lines})
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
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s %s", r.Method, r.URL.Path))
	})
	return mux
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
