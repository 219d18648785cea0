package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// StatusError is an HTTP answer other than 200. The server answered, so a
// retry would not change it.
type StatusError struct {
	URL  string
	Code int
}

func (e *StatusError) Error() string { return fmt.Sprintf("GET %s: HTTP status %d", e.URL, e.Code) }

// ErrTooLarge says a response or file passed Limits.Response.
var ErrTooLarge = errors.New("response too large")

// BadAnswer wraps an error about what a source served (garbage, wrong
// shape): it is definite, like a StatusError.
type BadAnswer struct{ Err error }

func (e *BadAnswer) Error() string { return e.Err.Error() }
func (e *BadAnswer) Unwrap() error { return e.Err }

func badAnswer(format string, args ...any) error { return &BadAnswer{fmt.Errorf(format, args...)} }

// Definite reports whether err came from a source that answered (a status,
// garbage, an oversize body) rather than from one that could not be reached:
// only the latter is worth retrying.
func Definite(err error) bool {
	var se *StatusError
	var ba *BadAnswer
	return errors.As(err, &se) || errors.As(err, &ba) || errors.Is(err, ErrTooLarge)
}

// Fetcher makes bounded HTTP requests to metadata services.
type Fetcher struct {
	Client *http.Client
	Limit  int64
}

// NewFetcher returns a Fetcher that never uses a proxy (metadata services
// are link-local) and reads at most limit bytes per response.
func NewFetcher(limit int64) *Fetcher {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		ResponseHeaderTimeout: 5 * time.Second,
		MaxIdleConnsPerHost:   4,
	}
	return &Fetcher{Client: &http.Client{Transport: tr, CheckRedirect: noRedirect}, Limit: limit}
}

// Metadata services do not redirect; following one could leave the link.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Do makes one request and returns the body of a 200 answer.
func (f *Fetcher) Do(ctx context.Context, method, url string, header map[string]string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, resp.Header, &StatusError{URL: url, Code: resp.StatusCode}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.Limit+1))
	if err != nil {
		return nil, resp.Header, fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
	}
	if int64(len(body)) > f.Limit {
		return nil, resp.Header, fmt.Errorf("%s %s: %w (more than %d bytes)", method, url, ErrTooLarge, f.Limit)
	}
	return body, resp.Header, nil
}

// Get is Do with GET.
func (f *Fetcher) Get(ctx context.Context, url string, header map[string]string) ([]byte, error) {
	b, _, err := f.Do(ctx, http.MethodGet, url, header)
	return b, err
}

// Optional is Get where a 404 means "not set": it returns nil, nil.
func (f *Fetcher) Optional(ctx context.Context, url string, header map[string]string) ([]byte, error) {
	b, err := f.Get(ctx, url, header)
	var se *StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotFound {
		return nil, nil
	}
	return b, err
}

// GetJSON fetches url and decodes a JSON answer into v.
func (f *Fetcher) GetJSON(ctx context.Context, url string, header map[string]string, v any) error {
	b, err := f.Get(ctx, url, header)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badAnswer("%s: not the expected JSON: %v", url, err)
	}
	return nil
}

// text trims a plain-text metadata value.
func text(b []byte) string { return strings.TrimSpace(string(b)) }
