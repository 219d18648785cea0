package main

import (
	"io"
	"net/http/httptest"
	"testing"
)

func TestHandler(t *testing.T) {
	for _, name := range []string{"hello-7d9c-x2x4q", "node-a"} {
		srv := httptest.NewServer(handler(name))
		res, err := srv.Client().Get(srv.URL + "/any/path")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		srv.Close()
		if want := "KUBERNETES-HELLO from " + name + "\n"; string(body) != want {
			t.Errorf("got %q, want %q", body, want)
		}
		if res.StatusCode != 200 {
			t.Errorf("status %d, want 200", res.StatusCode)
		}
	}
}
