package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	for _, tc := range []struct {
		name, fetched, want string
	}{
		{"hello-7d9c-x2x4q", "", "KUBERNETES-HELLO from hello-7d9c-x2x4q\n"},
		{"node-a", "", "KUBERNETES-HELLO from node-a\n"},
		{"probe", "EGRESS-OK abc", "KUBERNETES-HELLO from probe\nfetched: EGRESS-OK abc\n"},
	} {
		var got fetched
		got.set(tc.fetched)
		srv := httptest.NewServer(handler(tc.name, &got))
		res, err := srv.Client().Get(srv.URL + "/any/path")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		srv.Close()
		if string(body) != tc.want {
			t.Errorf("got %q, want %q", body, tc.want)
		}
		if res.StatusCode != 200 {
			t.Errorf("status %d, want 200", res.StatusCode)
		}
	}
}

// TestFetchUntilOK: the URL fails twice, then answers; the first line of
// the answer is kept and the URL is not asked again.
func TestFetchUntilOK(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "EGRESS-OK token\nsecond line\n")
	}))
	defer srv.Close()
	var got fetched
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fetchUntilOK(ctx, srv.Client(), srv.URL+"/egress", time.Millisecond, &got)
	if g, want := got.get(), "EGRESS-OK token"; g != want {
		t.Errorf("got %q, want %q", g, want)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("got %d requests, want 3", n)
	}
}

func TestFetchLine(t *testing.T) {
	for _, tc := range []struct {
		what    string
		status  int
		body    string
		want    string
		wantErr string
	}{
		{"one line", 200, "EGRESS-OK x\n", "EGRESS-OK x", ""},
		{"no newline", 200, "EGRESS-OK y", "EGRESS-OK y", ""},
		{"long line cut", 200, strings.Repeat("a", 500), strings.Repeat("a", 200), ""},
		{"not 200", 404, "EGRESS-OK z\n", "", "404"},
		{"empty", 200, "", "", "empty"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		}))
		got, err := fetchLine(context.Background(), srv.Client(), srv.URL)
		srv.Close()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: got error %v, want one with %q", tc.what, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.what, got, err, tc.want)
		}
	}
}
