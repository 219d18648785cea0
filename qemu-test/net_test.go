package qemutest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// netState is what the netcheck service (testdata/net-check.yml) saw in
// the guest: `ip -4 -o addr`, `ip -4 route` and /etc/resolv.conf lines.
type netState struct {
	addrs, routes, resolv []string
	date                  string // the guest's clock, Unix seconds
}

// readNetCheck waits for the netcheck markers and collects what is
// between them.
func readNetCheck(ctx context.Context, t *testing.T, c *Console) netState {
	t.Helper()
	end, _, err := c.Expect(ctx, 0, regexp.MustCompile(`NETCHECK-END`))
	if err != nil {
		t.Fatalf("the netcheck service printed no report: %v\nlast console lines:\n%s", err, c.Tail(80))
	}
	begin, _, err := c.Expect(ctx, 0, regexp.MustCompile(`NETCHECK-BEGIN`))
	if err != nil || begin > end {
		t.Fatalf("netcheck report has no beginning\nlast console lines:\n%s", c.Tail(80))
	}
	var s netState
	lines := c.Lines(begin+1, end)
	for _, l := range lines {
		_, rest, ok := strings.Cut(l, "NETCHECK ")
		if !ok {
			continue
		}
		kind, val, _ := strings.Cut(rest, " ")
		switch kind {
		case "addr":
			s.addrs = append(s.addrs, val)
		case "route":
			s.routes = append(s.routes, val)
		case "resolv":
			s.resolv = append(s.resolv, val)
		case "date":
			s.date = val
		}
	}
	t.Logf("network in the guest:\n%s", strings.Join(lines, "\n"))
	return s
}

// wantNet checks the guest's view against QEMU's user network: address
// 10.0.2.15/24 on eth0, default route via 10.0.2.2, name server 10.0.2.3.
func wantNet(t *testing.T, s netState) {
	t.Helper()
	checks := []struct {
		what  string
		lines []string
		re    *regexp.Regexp
	}{
		{"address", s.addrs, regexp.MustCompile(`^\d+: eth0\s+inet 10\.0\.2\.15/24 `)},
		{"default route", s.routes, regexp.MustCompile(`^default via 10\.0\.2\.2 dev eth0`)},
		{"subnet route", s.routes, regexp.MustCompile(`^10\.0\.2\.0/24 dev eth0 `)},
		{"name server", s.resolv, regexp.MustCompile(`^nameserver 10\.0\.2\.3$`)},
	}
	for _, ch := range checks {
		found := false
		for _, l := range ch.lines {
			found = found || ch.re.MatchString(strings.TrimSpace(l))
		}
		if !found {
			t.Errorf("%s: got %q, want a line matching %q", ch.what, ch.lines, ch.re)
		}
	}
}

// bootNetCheck boots specs merged with the netcheck service, waits for
// the console lines expect lists, and returns what the guest saw once it
// powered itself off.
func bootNetCheck(t *testing.T, specs []string, expect ...string) (*Console, netState) {
	t.Helper()
	ctx, c := bootSpecs(t, 5*time.Minute, run.QEMU{}, append(specs, "qemu-test/testdata/net-check.yml")...)
	for _, e := range expect {
		_, at, err := c.Expect(ctx, 0, regexp.MustCompile(e))
		if err != nil {
			t.Fatalf("want a console line matching %q: %v\nlast console lines:\n%s", e, err, c.Tail(80))
		}
		t.Logf("%6.2fs  %s", at.Seconds(), e)
	}
	s := readNetCheck(ctx, t, c)
	if err := c.Wait(ctx); err != nil {
		t.Errorf("qemu did not exit cleanly after power-off: %v\nlast console lines:\n%s", err, c.Tail(40))
	}
	return c, s
}

// TestDHCPBoots boots examples/dhcp.yml: the onboot dhcpcd, run with
// LinuxKit's command line, must configure eth0 from QEMU's DHCP server
// before the services start.
func TestDHCPBoots(t *testing.T) {
	require(t)
	c, s := bootNetCheck(t, []string{"examples/dhcp.yml"},
		`dhcpcd: eth0: leased 10\.0\.2\.15/24 from 10\.0\.2\.2 .*route 0\.0\.0\.0/0 via 10\.0\.2\.2.*dns 10\.0\.2\.3`,
		`svcd: onboot dhcpcd exited 0`,
	)
	wantNet(t, s)
	if i, _, err := c.Expect(t.Context(), 0, regexp.MustCompile(`dhcpcd: eth0: configured in`)); err == nil {
		t.Logf("guest: %s", c.Lines(i, i+1)[0])
	}
}

// TestDHCPServiceReleases runs dhcpcd as a service, with its image's own
// command: it must configure eth0 the same way, stay up, and release the
// lease when svcd stops it at power-off.
func TestDHCPServiceReleases(t *testing.T) {
	require(t)
	c, s := bootNetCheck(t, []string{"examples/minimal.yml", "qemu-test/testdata/net-dhcpcd-service.yml"},
		`dhcpcd: eth0: leased 10\.0\.2\.15/24 from 10\.0\.2\.2 `,
	)
	wantNet(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := c.Expect(ctx, 0, regexp.MustCompile(`dhcpcd: eth0: released 10\.0\.2\.15/24`)); err != nil {
		t.Errorf("dhcpcd did not release its lease at power-off: %v\nlast console lines:\n%s", err, c.Tail(40))
	}
}

// TestStaticIPBoots boots examples/static-ip.yml: the onboot ip container
// must apply LinuxKit's batch file with Keel's ip, and the image's own
// resolv.conf must be what the system reads.
func TestStaticIPBoots(t *testing.T) {
	require(t)
	_, s := bootNetCheck(t, []string{"examples/static-ip.yml"}, `svcd: onboot ip exited 0`)
	wantNet(t, s)
}

// fetch gets url until it answers or ctx ends: QEMU accepts connections on
// a published port before the guest listens, and drops them.
func fetch(ctx context.Context, url string) (int, string, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil {
				return resp.StatusCode, string(body), nil
			}
			err = rerr
		}
		select {
		case <-ctx.Done():
			return 0, "", err
		case <-time.After(2 * time.Second):
		}
	}
}

// TestWebBoots boots examples/web.yml with guest port 80 published on the
// host and fetches the baked-in page from the host, through dhcpcd's
// network and httpd; the webcheck service powers off once httpd logged
// that request.
func TestWebBoots(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/web.yml", "qemu-test/testdata/net-web-check.yml")
	port := freePort(t)
	ctx, c := bootGuest(t, 5*time.Minute, run.QEMU{Prefix: prefix, Publish: []run.Publish{{Host: port, Guest: 80, Proto: "tcp"}}})

	status, body, err := fetch(ctx, fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatalf("fetching the page from the host: %v\nlast console lines:\n%s", err, c.Tail(80))
	}
	t.Logf("%6.2fs  host got HTTP %d", c.Elapsed().Seconds(), status)
	if status != http.StatusOK || !strings.Contains(body, "<h1>Served by Keel</h1>") {
		t.Errorf("got HTTP %d %q, want 200 with the page of examples/web.yml", status, body)
	}
	if _, _, err := c.Expect(ctx, 0, regexp.MustCompile(`WEBCHECK-SEEN`)); err != nil {
		t.Fatalf("httpd's log in the guest never showed the request: %v\nlast console lines:\n%s", err, c.Tail(80))
	}
	if err := c.Wait(ctx); err != nil {
		t.Errorf("qemu did not exit cleanly after power-off: %v\nlast console lines:\n%s", err, c.Tail(40))
	}
}
