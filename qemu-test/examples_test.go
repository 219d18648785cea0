package qemutest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
	"github.com/keel-os/keel/svcd/api"
	"golang.org/x/crypto/ssh"
)

// scrape fetches a Prometheus text page, retrying until the exporter
// answers, and returns the value of each sample by its full name.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	for {
		samples, err := scrapeOnce(ctx, url)
		if err == nil {
			return samples, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("scraping %s: %w (last error: %v)", url, ctx.Err(), err)
		case <-time.After(2 * time.Second):
		}
	}
}

func scrapeOnce(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("status %s: %s", resp.Status, body)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		samples[line[:i]] = v
	}
	return samples, sc.Err()
}

// TestNodeExporter boots examples/node_exporter.yml (plus sshd, to power it
// off), scrapes /metrics through a published port and checks that the
// metrics describe the guest: its memory, boot time and eth0.
func TestNodeExporter(t *testing.T) {
	require(t)
	key := newUserKey(t)
	prefix := buildImage(t, "examples/node_exporter.yml", "qemu-test/testdata/sshd-login.yml", authorizedKeySpec(t, key))
	metricsPort := freePort(t)

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c, client, _ := bootLoggedIn(ctx, t, prefix, key, []run.Publish{{Host: metricsPort, Guest: 9100, Proto: "tcp"}})
	defer c.Kill()
	defer client.Close()

	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	start := time.Now()
	samples, err := scrape(ctx, url)
	if err != nil {
		t.Fatalf("%v\nlast console lines:\n%s", err, c.Tail(40))
	}
	t.Logf("scraped %d samples in %s", len(samples), time.Since(start).Round(time.Millisecond))

	now := float64(time.Now().Unix())
	tests := []struct {
		sample   string
		min, max float64
	}{
		// QEMU was given 1024 MiB; the kernel keeps some for itself.
		{"node_memory_MemTotal_bytes", 700 << 20, 1024 << 20},
		{"node_boot_time_seconds", now - 3600, now + 60},
		{`node_network_up{device="eth0"}`, 1, 1},
		{`node_network_receive_bytes_total{device="eth0"}`, 1, 1 << 40},
	}
	for _, tt := range tests {
		v, ok := samples[tt.sample]
		if !ok {
			t.Errorf("no %s in /metrics", tt.sample)
			continue
		}
		if v < tt.min || v > tt.max {
			t.Errorf("%s = %g, want between %g and %g", tt.sample, v, tt.min, tt.max)
		}
	}
	services, err := guestServices(client)
	if err != nil {
		t.Fatal(err)
	}
	if st := services["node_exporter"]; st.State != "running" || st.Restarts != 0 {
		t.Errorf("node_exporter is %s after %d restarts, want running without restarts", st.State, st.Restarts)
	}
	powerOffGuest(ctx, t, c, client)
}

// sinkSettled reports whether every service of the kitchen sink reached its
// final state, and if not, what it still waits for.
func sinkSettled(s map[string]api.Container) string {
	for _, name := range []string{"web", "app", "worker"} {
		if s[name].Health != "healthy" {
			return fmt.Sprintf("%s is %s/%s", name, s[name].State, s[name].Health)
		}
	}
	if c := s["crasher"]; c.State != "failed" {
		return fmt.Sprintf("crasher is %s after %d restarts", c.State, c.Restarts)
	}
	return ""
}

// TestKitchenSink boots examples/kitchen-sink.yml and checks each of Keel's
// additions through svcd's own view, read over SSH: the onboot time limit,
// the dependency chain waiting for health, the restart limit, and the stop
// signal at power-off.
func TestKitchenSink(t *testing.T) {
	require(t)
	key := newUserKey(t)
	prefix := buildImage(t, "examples/kitchen-sink.yml", authorizedKeySpec(t, key))

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c, client, _ := bootLoggedIn(ctx, t, prefix, key, nil)
	defer c.Kill()
	defer client.Close()

	var s map[string]api.Container
	last := ""
	for {
		var err error
		if s, err = guestServices(client); err != nil {
			// When time is up QEMU is killed, and SSH sees only EOF.
			if ctx.Err() != nil {
				err = fmt.Errorf("services did not settle: %s", last)
			}
			t.Fatalf("%v\nlast console lines:\n%s", err, c.Tail(100))
		}
		waiting := sinkSettled(s)
		if waiting == "" {
			break
		}
		if waiting != last {
			t.Logf("%6.2fs  waiting: %s", c.Elapsed().Seconds(), waiting)
			last = waiting
		}
		select {
		case <-ctx.Done():
			t.Fatalf("services did not settle: %s\nlast console lines:\n%s", waiting, c.Tail(60))
		case <-time.After(3 * time.Second):
		}
	}
	t.Logf("%6.2fs  services settled", c.Elapsed().Seconds())
	for _, name := range []string{"stuck", "web", "app", "worker", "crasher"} {
		x := s[name]
		t.Logf("%-8s %-8s health=%-8s restarts=%d started=%v error=%q", name, x.State, x.Health, x.Restarts, x.StartedAt, x.Error)
	}

	if st := s["stuck"]; st.State != "failed" || !strings.Contains(st.Error, "timed out") {
		t.Errorf("onboot stuck: %s (%q), want failed because it timed out", st.State, st.Error)
	}
	if s["sshd"].State != "running" {
		t.Errorf("sshd is %s: the boot did not go on after the stuck onboot container", s["sshd"].State)
	}
	// app exits when web does not answer its first request, so no restarts
	// means it started after web was healthy; web needs 3 s to open its
	// port. worker must not have failed its health check either.
	for _, name := range []string{"app", "worker"} {
		if s[name].Restarts != 0 {
			t.Errorf("%s restarted %d times, want 0", name, s[name].Restarts)
		}
	}
	order := []string{"web", "app", "worker"}
	for i := 1; i < len(order); i++ {
		before, after := s[order[i-1]].StartedAt, s[order[i]].StartedAt
		if before == nil || after == nil || !after.After(*before) {
			t.Errorf("%s started at %v, want after %s (%v)", order[i], after, order[i-1], before)
		}
	}
	if gap := s["app"].StartedAt.Sub(*s["web"].StartedAt); gap < 3*time.Second {
		t.Errorf("app started %s after web, want at least web's 3 s until it listens", gap)
	}
	if out, err := runGuest(client, "svcctl logs app"); err != nil || !strings.Contains(out, "app: web answered") {
		t.Errorf("svcctl logs app: %q (%v), want app's successful first request", out, err)
	}
	if cr := s["crasher"]; cr.Restarts != 3 || cr.Restart != "on-failure:3" {
		t.Errorf("crasher: %d restarts with policy %q, want 3 with on-failure:3", cr.Restarts, cr.Restart)
	}
	if s["web"].Restart != "always" {
		t.Errorf("web's restart policy %q, want always", s["web"].Restart)
	}

	if t.Failed() {
		t.Logf("console:\n%s", c.Tail(150))
	}
	from := len(c.Lines(0, -1))
	powerOffGuest(ctx, t, c, client)
	if _, _, err := c.Expect(ctx, from, regexp.MustCompile(`worker: SIGUSR1, finishing cleanly`)); err != nil {
		t.Errorf("worker was not stopped with its stopSignal: %v", err)
	}
}

// TestPlatformQEMU boots examples/platform-qemu.yml, whose image holds no
// SSH key, with a cloud-config handed over by QEMU fw_cfg, and logs in with
// the key the metadata agent wrote to /run/config/ssh/authorized_keys.
func TestPlatformQEMU(t *testing.T) {
	require(t)
	key := newUserKey(t)
	prefix := buildImage(t, "examples/platform-qemu.yml")
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key.PublicKey())))
	userdata := filepath.Join(t.TempDir(), "userdata")
	cloudConfig := "#cloud-config\nhostname: keelbox\nssh_authorized_keys:\n  - " + line + " test@host\n"
	if err := os.WriteFile(userdata, []byte(cloudConfig), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c, client, port := bootLoggedIn(ctx, t, prefix, key, nil, "-fw_cfg", "name=opt/keel/userdata,file="+userdata)
	defer c.Kill()
	defer client.Close()

	out, err := runGuest(client, "hostname; cat /run/config/provider; echo; cat /run/config/ssh/authorized_keys")
	if err != nil {
		t.Fatal(err)
	}
	want := "keelbox\nfw_cfg\n" + line + " test@host\n"
	if out != want {
		t.Errorf("in the guest: got %q, want %q", out, want)
	}
	if other, err := dialOnce(port, newUserKey(t)); err == nil {
		other.Close()
		t.Error("a key that is not in the cloud-config logged in")
	}
	powerOffGuest(ctx, t, c, client)
}
