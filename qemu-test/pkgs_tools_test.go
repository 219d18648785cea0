package qemutest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestLinuxKitTools boots examples/minimal.yml with
// testdata/pkgs-tools-check.yml: one system carrying LinuxKit's auditd,
// bpftrace and open-vm-tools packages. auditd must log the kernel's record
// of a sethostname(2) its rule audits (as LinuxKit's, auditd -f writes the
// records to its output, the service's log); bpftrace must
// compile a one-liner, attach its kprobe and print from it; open-vm-tools
// must start, find no VMware hypervisor (QEMU is none, so that is all it
// can show) and exit 0, which its restart policy leaves alone. tss: tcsd
// must open the TPM 1.2 that swtpm emulates (a TPM TIS device, /dev/tpm0)
// and tpm_version must read the chip's version through it. cadvisor: its
// API, read from the host through a published port, must list every
// service's cgroup with samples of its CPU and memory use. bpftrace's
// LLVM and clang make the image large, so the guest gets more memory than
// the default.
func TestLinuxKitTools(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/minimal.yml", "qemu-test/testdata/pkgs-tools-check.yml")
	tpm := &run.TPM{Dir: t.TempDir()}
	port := freePort(t)
	ctx, c := bootGuest(t, 8*time.Minute, run.QEMU{Prefix: prefix, Mem: 1536, TPM: tpm,
		Publish: []run.Publish{{Host: port, Guest: 8080, Proto: "tcp"}}})
	_, at := mustExpect(ctx, t, c, 0, `cadvisor: .*cadvisor: serving the API v1\.3`)
	t.Logf("%6.2fs  cadvisor serves its API", at.Seconds())
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	checkCadvisor(cctx, t, c, port)
	cancel()
	expectSteps(ctx, t, c, []step{
		{"runaudit loaded the rules", regexp.MustCompile(`auditd: runaudit: loaded /etc/audit/audit.rules`)},
		{"auditd registered with the kernel", regexp.MustCompile(`auditd: Init complete, auditd \S+ listening for events`)},
		// The kernel's record of sethostname (170 on x86-64) by busybox,
		// under the rule's key.
		{"auditd logged the audited sethostname", regexp.MustCompile(`auditd: type=SYSCALL msg=audit\(\S+\): arch=c000003e syscall=170 success=yes .* exe="/bin/busybox" .*key="keel-audit"`)},
		{"bpftrace attached its probes", regexp.MustCompile(`bpftrace: KEEL-BPF attached`)},
		{"bpftrace's kprobe fired in busybox", regexp.MustCompile(`bpftrace: KEEL-BPF busybox pid \d+ in do_nanosleep`)},
		{"bpftrace exited 0", regexp.MustCompile(`svcd: service bpftrace exited 0`)},
		{"open-vm-tools saw no VMware", regexp.MustCompile(`open-vm-tools: keel-vmtoolsd: not a VMware virtual machine \(the firmware says "QEMU"\)`)},
		{"open-vm-tools exited 0", regexp.MustCompile(`svcd: service open-vm-tools exited 0`)},
		// swtpm's TPM 1.2 is libtpms, which reports IBM as its vendor.
		{"tpm_version read the TPM through tcsd", regexp.MustCompile(`tpm-version:\s+TPM 1\.2 Version Info:`)},
		{"the TPM named its vendor", regexp.MustCompile(`tpm-version:\s+TPM Vendor ID:\s+IBM`)},
		{"tpm_version exited 0", regexp.MustCompile(`svcd: service tpm-version exited 0`)},
		{"cadvisor answered inside the guest", regexp.MustCompile(`PKGCHECK cadvisor tcsd "memory":\{"usage":[1-9]`)},
		{"the check finished", regexp.MustCompile(`PKGCHECK-END`)},
	})
	for _, l := range c.Lines(0, -1) {
		if _, rest, ok := strings.Cut(l, "PKGCHECK "); ok {
			t.Logf("guest: %s", strings.TrimSpace(rest))
		}
	}
	if t.Failed() {
		t.Logf("console:\n%s", c.Tail(100))
	}
}

// checkCadvisor reads cadvisor's API from the host through the published
// port until it lists the services' cgroups with stats: each must have
// samples with a CPU usage and a memory usage above zero.
func checkCadvisor(ctx context.Context, t *testing.T, c *Console, port int) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/api/v1.3/subcontainers/", port)
	want := []string{"/tcsd", "/auditd", "/cadvisor"}
	var last string
	for ctx.Err() == nil {
		missing, err := cadvisorMissing(ctx, url, want)
		if err == nil && len(missing) == 0 {
			t.Logf("cadvisor (from the host): %v have CPU and memory samples", want)
			metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
			if err := cadvisorMetrics(ctx, metrics, `container_cpu_usage_seconds_total{`, `id="/tcsd"`); err != nil {
				t.Errorf("cadvisor's %s: %v", metrics, err)
			}
			return
		}
		last = fmt.Sprintf("missing %v, error %v", missing, err)
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("cadvisor's API at %s: %s\nlast console lines:\n%s", url, last, c.Tail(60))
}

// cadvisorMissing names the containers of want that the API's answer does
// not list with a stat sample using CPU and memory.
func cadvisorMissing(ctx context.Context, url string, want []string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return want, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return want, fmt.Errorf("status %s", resp.Status)
	}
	var cs []struct {
		Name  string `json:"name"`
		Stats []struct {
			CPU struct {
				Usage struct {
					Total uint64 `json:"total"`
				} `json:"usage"`
			} `json:"cpu"`
			Memory struct {
				Usage uint64 `json:"usage"`
			} `json:"memory"`
		} `json:"stats"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&cs); err != nil {
		return want, err
	}
	ok := map[string]bool{}
	for _, ci := range cs {
		for _, s := range ci.Stats {
			if s.CPU.Usage.Total > 0 && s.Memory.Usage > 0 {
				ok[ci.Name] = true
			}
		}
	}
	var missing []string
	for _, w := range want {
		if !ok[w] {
			missing = append(missing, w)
		}
	}
	return missing, nil
}

// cadvisorMetrics checks that the Prometheus page answers 200 with a
// sample line of metric for the label.
func cadvisorMetrics(ctx context.Context, url, metric, label string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s: %.300s", resp.Status, body)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, metric) && strings.Contains(l, label) {
			return nil
		}
	}
	return fmt.Errorf("no %s...%s sample in %d bytes", metric, label, len(body))
}
