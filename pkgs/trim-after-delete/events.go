package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"
)

// event is the part of a Docker event that matters here.
type event struct {
	Type   string
	Action string
}

// eventSource opens a stream of events; Close ends it.
type eventSource func(ctx context.Context) (io.ReadCloser, error)

// dockerEvents reads GET /events from the Docker API on the unix socket
// at path, checking that what answers says it is Docker.
func dockerEvents(path string) eventSource {
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	return func(ctx context.Context) (io.ReadCloser, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/v1.24/events", nil)
		if err != nil {
			return nil, err
		}
		res, err := c.Do(req)
		if err != nil {
			return nil, fmt.Errorf("cannot reach Docker at %s: %w", path, err)
		}
		if s := res.Header.Get("Server"); !strings.HasPrefix(s, "Docker") || res.StatusCode != http.StatusOK {
			res.Body.Close()
			return nil, fmt.Errorf("%s answered %q (server %q), not Docker's event stream", path, res.Status, s)
		}
		return res.Body, nil
	}
}

// maxEvent bounds one event's JSON: Docker's are well under 4 KiB.
const maxEvent = 1 << 20

// watch follows the events of open, calling trigger for each image delete,
// and reconnects after retry when the stream fails or ends. It returns
// when ctx ends.
func watch(ctx context.Context, open eventSource, trigger func(), retry time.Duration) {
	connected := true // log the first failure, then only changes
	for ctx.Err() == nil {
		body, err := open(ctx)
		if err != nil {
			if connected {
				log.Printf("%v: retrying every %s", err, retry)
				connected = false
			}
		} else {
			log.Print("following Docker's events")
			connected = true
			err = follow(body, trigger)
			body.Close()
			if ctx.Err() == nil {
				log.Printf("Docker's event stream ended (%v): reconnecting", err)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
}

// follow reads Docker's events, one JSON object a line, from r until it
// fails, calling trigger for each image delete. A line longer than
// maxEvent ends the stream (the caller reconnects).
func follow(r io.Reader, trigger func()) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxEvent)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("reading an event: %w", err)
		}
		if e.Type == "image" && e.Action == "delete" {
			trigger()
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading events: %w", err)
	}
	return io.EOF
}
