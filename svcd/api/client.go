package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to svcd over its unix socket.
type Client struct {
	socket string
	http   *http.Client
	// stream has no overall timeout, for follow and events.
	stream *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &Client{socket: path, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, stream: &http.Client{Transport: tr}}
}

// ErrUnreachable is wrapped by errors from a client that could not talk to
// svcd at all (as opposed to svcd saying no).
var ErrUnreachable = errors.New("cannot reach svcd")

// StatusError is svcd's answer to a request it refused.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return "svcd: " + e.Msg }

// send makes a request and checks its status; the caller closes the body.
func (c *Client) send(ctx context.Context, hc *http.Client, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://svcd"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w at %s: %w (is svcd running? are you root?)", ErrUnreachable, c.socket, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e Error
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, &StatusError{Code: resp.StatusCode, Msg: e.Error}
		}
		return nil, &StatusError{Code: resp.StatusCode, Msg: fmt.Sprintf("answered %s: %s", resp.Status, strings.TrimSpace(string(body)))}
	}
	return resp, nil
}

// do sends a request and decodes a JSON answer into out (when non-nil).
func (c *Client) do(ctx context.Context, method, path string, out any) error {
	resp, err := c.send(ctx, c.http, method, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading answer from svcd: %w", err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decoding answer from svcd: %w", err)
	}
	return nil
}

// Containers lists every container svcd knows, in start order.
func (c *Client) Containers(ctx context.Context) ([]Container, error) {
	var out []Container
	err := c.do(ctx, http.MethodGet, "/v1/containers", &out)
	return out, err
}

// Container returns one container's row.
func (c *Client) Container(ctx context.Context, name string) (*Container, error) {
	var out Container
	if err := c.do(ctx, http.MethodGet, "/v1/containers/"+url.PathEscape(name), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Logs returns the output held for the named container.
func (c *Client) Logs(ctx context.Context, name string) (*Logs, error) {
	return c.LogsQuery(ctx, name, LogQuery{Tail: -1})
}

// LogQuery narrows a logs request.
type LogQuery struct {
	// Tail keeps the last Tail lines; < 0 keeps all.
	Tail int
	// Since keeps lines newer than this long ago; 0 keeps all.
	Since time.Duration
}

func (q LogQuery) values() url.Values {
	v := url.Values{}
	if q.Tail >= 0 {
		v.Set("tail", fmt.Sprint(q.Tail))
	}
	if q.Since > 0 {
		v.Set("since", q.Since.String())
	}
	return v
}

// LogsQuery returns the output held for the named container, narrowed by q.
func (c *Client) LogsQuery(ctx context.Context, name string, q LogQuery) (*Logs, error) {
	var out Logs
	path := "/v1/containers/" + url.PathEscape(name) + "/logs?" + q.values().Encode()
	if err := c.do(ctx, http.MethodGet, path, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FollowLogs calls fn with each line held (narrowed by q) and then each new
// one, until ctx ends or fn returns an error.
func (c *Client) FollowLogs(ctx context.Context, name string, q LogQuery, fn func(LogLine) error) error {
	v := q.values()
	v.Set("follow", "1")
	return stream(ctx, c, "/v1/containers/"+url.PathEscape(name)+"/logs?"+v.Encode(), fn)
}

// Events calls fn with each state change svcd reports from now on, until
// ctx ends or fn returns an error.
func (c *Client) Events(ctx context.Context, fn func(Event) error) error {
	return stream(ctx, c, "/v1/events", fn)
}

func stream[T any](ctx context.Context, c *Client, path string, fn func(T) error) error {
	resp, err := c.send(ctx, c.stream, http.MethodGet, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var x T
		if err := dec.Decode(&x); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading stream from svcd: %w", err)
		}
		if err := fn(x); err != nil {
			return err
		}
	}
}

// Start starts a stopped service.
func (c *Client) Start(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/v1/containers/"+url.PathEscape(name)+"/start", nil)
}

// Stop stops a service gracefully; it stays stopped until Start.
func (c *Client) Stop(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/v1/containers/"+url.PathEscape(name)+"/stop", nil)
}

// Restart stops a service and starts it again.
func (c *Client) Restart(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/v1/containers/"+url.PathEscape(name)+"/restart", nil)
}

// Stats returns the named container's cgroup figures.
func (c *Client) Stats(ctx context.Context, name string) (*Stats, error) {
	var out Stats
	if err := c.do(ctx, http.MethodGet, "/v1/containers/"+url.PathEscape(name)+"/stats", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Boot returns init's boot log and svcd's events.
func (c *Client) Boot(ctx context.Context) (*Boot, error) {
	var out Boot
	if err := c.do(ctx, http.MethodGet, "/v1/boot", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Halt asks svcd to have init stop everything and halt.
func (c *Client) Halt(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/halt", nil)
}

// Poweroff asks svcd to have init power the machine off.
func (c *Client) Poweroff(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/poweroff", nil)
}

// Reboot asks svcd to have init reboot the machine.
func (c *Client) Reboot(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/reboot", nil)
}

// Dmesg returns the kernel log, oldest record first.
func (c *Client) Dmesg(ctx context.Context) ([]KmsgRecord, error) {
	var out []KmsgRecord
	if err := c.do(ctx, http.MethodGet, "/v1/dmesg", &out); err != nil {
		return nil, err
	}
	return out, nil
}
