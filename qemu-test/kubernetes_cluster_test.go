package qemutest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// The cluster network of TestKubernetesCluster: the segment's addresses
// and each node's pod subnet.
const (
	cpIP       = "192.168.77.10"
	workerIP   = "192.168.77.11"
	cpPods     = "10.244.0.0/24"
	workerPods = "10.244.1.0/24"
	helloPort  = 30080 // the Service's NodePort
)

// TestKubernetesCluster boots examples/kubernetes-control-plane.yml and
// examples/kubernetes-worker.yml on one segment, each with a persistent
// disk and its cluster identity in the userdata (the CA is made here, so
// the worker knows its hash before the control plane exists and both boot
// at once). From the host, with the admin kubeconfig the control plane
// prints on its console and kubectl through the published API port, it
// waits for both nodes Ready, deploys keel.local/kubernetes-hello (built
// by keel pkg build, carried in the worker's images), checks its pods run
// on the worker and answer through a NodePort Service (at the worker and,
// across the segment, at the control plane), and that a pod on the worker
// reaches a server outside the cluster (masqueraded) and answers at its
// hostPort (kubernetes_egress_test.go); reboots the worker and checks
// both again, then powers both off. Run by make test-kubernetes
// (KEEL_KUBERNETES=1), never by make test.
func TestKubernetesCluster(t *testing.T) {
	if os.Getenv("KEEL_KUBERNETES") != "1" {
		t.Skip("set KEEL_KUBERNETES=1 (make test-kubernetes): building the images compiles Kubernetes")
	}
	require(t)
	kubectl := os.Getenv("KEEL_KUBECTL")
	if kubectl == "" {
		kubectl = filepath.Join(repoRoot(t), "build", "kubectl")
	}
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("kubectl: %v (make test-kubernetes builds it into build/kubectl; or set KEEL_KUBECTL)", err)
	}
	cpPrefix := buildImage(t, "examples/kubernetes-control-plane.yml")
	workerPrefix := buildImage(t, "examples/kubernetes-worker.yml")

	// Short: unix socket paths (segment, monitors) are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "k8s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	caCert, caKey, hash := clusterCA(t)
	token := bootstrapToken(t)
	cpData := writeUserdata(t, dir, "cp", map[string]string{
		"node-ip": cpIP, "address": cpIP + "/24", "pod-cidr": cpPods,
		"routes": workerPods + " via " + workerIP + "\n", "token": token,
		"ca.crt": caCert, "ca.key": caKey, "print-kubeconfig": "true",
	})
	workerData := writeUserdata(t, dir, "w1", map[string]string{
		"node-ip": workerIP, "address": workerIP + "/24", "pod-cidr": workerPods,
		"routes": cpPods + " via " + cpIP + "\n", "token": token,
		"control-plane": cpIP + ":6443", "ca-cert-hash": hash,
	})

	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Minute)
	defer cancel()
	start := time.Now()
	apiPort, cpNodePort, workerNodePort, probePort := freePort(t), freePort(t), freePort(t), freePort(t)
	outside := startOutside(t)
	nets := []run.Network{{Kind: "user"}, {Kind: "segment", Target: "k8s"}}
	segDir := filepath.Join(dir, "segments")
	// Measured (docs/kubernetes.md): the control plane's images, unpacked
	// again under /var/lib/containerd (RAM), etcd and the API server want
	// 3 GiB; kubeadm's preflight wants 2 CPUs on a control plane.
	cp := run.QEMU{Prefix: cpPrefix, Mem: 3072, CPUs: 2, SegmentDir: segDir, Networks: nets,
		StateDir: filepath.Join(dir, "cp"),
		Disks:    []run.Disk{nodeDisk(t, filepath.Join(dir, "cp.img"), "4G")},
		Publish: []run.Publish{{Host: apiPort, Guest: 6443, Proto: "tcp"},
			{Host: cpNodePort, Guest: helloPort, Proto: "tcp"}},
		Extra: []string{"-fw_cfg", "name=opt/keel/userdata,file=" + cpData}}
	worker := run.QEMU{Prefix: workerPrefix, Mem: 1536, CPUs: 1, SegmentDir: segDir, Networks: nets,
		StateDir: filepath.Join(dir, "w1"),
		Disks:    []run.Disk{nodeDisk(t, filepath.Join(dir, "w1.img"), "2G")},
		Publish: []run.Publish{{Host: workerNodePort, Guest: helloPort, Proto: "tcp"},
			{Host: probePort, Guest: probeHostPort, Proto: "tcp"}},
		Extra: []string{"-fw_cfg", "name=opt/keel/userdata,file=" + workerData}}
	cpMon, workerMon := filepath.Join(dir, "cp.mon"), filepath.Join(dir, "w1.mon")
	cpc := bootNode(ctx, t, &cp, cpMon)
	wc := bootNode(ctx, t, &worker, workerMon)

	kubeconfig := adminKubeconfig(ctx, t, cpc, dir, apiPort)
	t.Logf("%6.1fs  the control plane's kubeadm init is done; its admin kubeconfig came on the console", time.Since(start).Seconds())
	svcctlShows(ctx, t, cpc, "control plane", "kubernetes-images", "kubelet", "kubeadm", "acpid")
	k := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kubeconfig, "--request-timeout", "60s"}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	waitFor(ctx, t, "both nodes Ready", 10*time.Second, func() (bool, string) {
		out, _ := k("get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}`)
		return strings.Contains(out, "cp=True") && strings.Contains(out, "w1=True"), out
	}, func() string { return "control plane:\n" + cpc.Tail(40) + "\nworker:\n" + wc.Tail(40) })
	t.Logf("%6.1fs  both nodes Ready", time.Since(start).Seconds())

	manifest := filepath.Join(dir, "hello.yml")
	if err := os.WriteFile(manifest, []byte(helloManifest+"---\n"+probeManifest(outside.url())), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := k("apply", "-f", manifest); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	helloPods := func() (bool, string) {
		out, _ := k("get", "pods", "-l", "app=hello", "-o",
			`jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase} {.status.containerStatuses[0].ready}{"\n"}{end}`)
		lines := strings.Fields(strings.ReplaceAll(out, "\n", " | "))
		ready := 0
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(l)
			if len(f) == 4 && f[1] == "w1" && f[2] == "Running" && f[3] == "true" {
				ready++
			}
		}
		return ready == 2 && len(lines) > 0, out
	}
	diag := func() string {
		out, _ := k("get", "pods", "-A", "-o", "wide")
		ev, _ := k("get", "events", "-A", "--sort-by=.lastTimestamp")
		return out + "\n" + lastLines(ev, 30) + "\nworker:\n" + wc.Tail(30)
	}
	waitFor(ctx, t, "both hello pods running and ready on the worker", 10*time.Second, helloPods, diag)
	t.Logf("%6.1fs  the Deployment's two pods are ready on w1", time.Since(start).Seconds())
	answer := regexp.MustCompile(`KUBERNETES-HELLO from hello-[a-z0-9-]+`)
	for _, at := range []struct {
		what string
		port int
	}{{"the worker", workerNodePort}, {"the control plane (to the worker's pods across the segment)", cpNodePort}} {
		url := fmt.Sprintf("http://127.0.0.1:%d/", at.port)
		waitFor(ctx, t, "the Service answering at "+at.what, 5*time.Second, func() (bool, string) {
			_, body, err := fetch(ctx, url)
			return err == nil && answer.MatchString(body), fmt.Sprint(body, err)
		}, diag)
		t.Logf("%6.1fs  the Service's NodePort answers at %s", time.Since(start).Seconds(), at.what)
	}
	waitForProbe(ctx, t, outside, probePort, 0, probeDiag(k, diag))
	t.Logf("%6.1fs  the probe pod fetched from outside the cluster (masqueraded) and answers at its hostPort", time.Since(start).Seconds())
	logNodeMemory(t, k)

	// A reboot of the worker: ctrl-alt-del, QEMU (-no-reboot) exits, and
	// the same machine (disk, state, addresses) boots again.
	hitsBefore := outside.hits.Load()
	if err := monitorCommand(workerMon, "sendkey ctrl-alt-delete"); err != nil {
		t.Fatal(err)
	}
	if err := wc.Wait(ctx); err != nil {
		t.Fatalf("the worker did not go down cleanly for its reboot: %v\n%s", err, wc.Tail(40))
	}
	rebooted := time.Now()
	wc = bootNode(ctx, t, &worker, workerMon)
	expectMatch(ctx, t, wc, "the rebooted worker found its cluster on its disk", `KUBEADM-OK join w1 already`)
	svcctlShows(ctx, t, wc, "worker", "kubernetes-images", "kubelet", "kubeadm", "acpid")
	url := fmt.Sprintf("http://127.0.0.1:%d/", workerNodePort)
	waitFor(ctx, t, "the Service answering at the rebooted worker", 10*time.Second, func() (bool, string) {
		if ok, out := helloPods(); !ok {
			return false, out
		}
		_, body, err := fetch(ctx, url)
		return err == nil && answer.MatchString(body), fmt.Sprint(body, err)
	}, diag)
	t.Logf("%6.1fs  after the worker's reboot its pods answer again, %.0fs after it went down",
		time.Since(start).Seconds(), time.Since(rebooted).Seconds())
	waitForProbe(ctx, t, outside, probePort, hitsBefore, probeDiag(k, diag))
	t.Logf("%6.1fs  after the reboot the probe fetched from outside again and answers at its hostPort", time.Since(start).Seconds())
	out, _ := k("get", "nodes,pods", "-A", "-o", "wide")
	t.Logf("the cluster:\n%s", out)

	for _, n := range []struct {
		name, mon string
		c         *Console
	}{{"worker", workerMon, wc}, {"control plane", cpMon, cpc}} {
		if err := monitorCommand(n.mon, "system_powerdown"); err != nil {
			t.Fatal(err)
		}
		if err := n.c.Wait(ctx); err != nil {
			t.Errorf("the %s did not power off cleanly: %v\n%s", n.name, err, n.c.Tail(40))
		}
	}
	t.Logf("%6.1fs  both nodes powered off cleanly", time.Since(start).Seconds())
}

// helloManifest is the test workload: two replicas of the image
// pkgs/kubernetes-worker-images carries (never pulled), behind a NodePort.
const helloManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
spec:
  replicas: 2
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      containers:
        - name: hello
          image: keel.local/kubernetes-hello:v1
          imagePullPolicy: Never
          env:
            - name: POD_NAME
              valueFrom: {fieldRef: {fieldPath: metadata.name}}
          ports:
            - containerPort: 8080
          readinessProbe:
            httpGet: {path: /, port: 8080}
            periodSeconds: 5
---
apiVersion: v1
kind: Service
metadata:
  name: hello
spec:
  type: NodePort
  selector: {app: hello}
  ports:
    - port: 80
      targetPort: 8080
      nodePort: 30080
`

// bootNode boots q with a QEMU monitor on mon, for ctrl-alt-del and
// power-off.
func bootNode(ctx context.Context, t *testing.T, q *run.QEMU, mon string) *Console {
	t.Helper()
	os.Remove(mon)
	c, err := BootWith(ctx, q, "-monitor", "unix:"+mon+",server=on,wait=off")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	return c
}

// svcctlShows waits for the `svcctl list` kubeadm.sh prints when it is
// done and checks that it shows each of services: what Keel supervises on
// a node, next to what Kubernetes does. Their state is logged, not
// checked: on a rebooted node kubeadm.sh is done at once, while the
// kubelet may still be starting.
func svcctlShows(ctx context.Context, t *testing.T, c *Console, node string, services ...string) {
	t.Helper()
	ok, _, err := c.Expect(ctx, 0, regexp.MustCompile(`KUBEADM-OK`))
	if err != nil {
		t.Fatalf("%s: kubeadm.sh did not finish: %v", node, err)
	}
	for _, name := range services {
		row := regexp.MustCompile(`kubeadm: ` + regexp.QuoteMeta(name) + `\s+service\s+\S+`)
		i, _, err := c.Expect(ctx, ok, row)
		if err != nil {
			t.Fatalf("%s: svcctl list does not show %s: %v\n%s", node, name, err, c.Tail(30))
		}
		t.Logf("%s: svcctl list: %s", node, strings.TrimPrefix(c.Lines(i, i+1)[0], "kubeadm: "))
	}
}

// nodeDisk creates a node's empty persistent disk (sparse, raw).
func nodeDisk(t *testing.T, path, size string) run.Disk {
	t.Helper()
	d := run.Disk{Path: path, Size: size, Format: "raw"}
	if err := d.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d
}

// adminKubeconfig waits for the admin kubeconfig the control plane prints
// (base64, between markers; print-kubeconfig in its userdata), points it
// at the published API port and writes it to dir.
func adminKubeconfig(ctx context.Context, t *testing.T, c *Console, dir string, port int) string {
	t.Helper()
	begin, _, err := c.Expect(ctx, 0, regexp.MustCompile(`KUBECONFIG-BEGIN|KUBEADM-FAIL`))
	if err != nil || strings.Contains(c.Lines(begin, begin+1)[0], "KUBEADM-FAIL") {
		t.Fatalf("no kubeconfig from the control plane: %v\n%s", err, c.Tail(80))
	}
	end, _, err := c.Expect(ctx, begin, regexp.MustCompile(`KUBECONFIG-END`))
	if err != nil {
		t.Fatalf("the kubeconfig did not end: %v\n%s", err, c.Tail(40))
	}
	var b64 strings.Builder
	for _, l := range c.Lines(begin+1, end) {
		if _, rest, ok := strings.Cut(l, "kubeadm: "); ok {
			b64.WriteString(strings.TrimSpace(rest))
		}
	}
	raw, err := base64.StdEncoding.DecodeString(b64.String())
	if err != nil {
		t.Fatalf("the kubeconfig on the console: %v", err)
	}
	conf := strings.ReplaceAll(string(raw), "https://"+cpIP+":6443", fmt.Sprintf("https://127.0.0.1:%d", port))
	if !strings.Contains(conf, "127.0.0.1") {
		t.Fatalf("the admin kubeconfig does not name https://%s:6443:\n%s", cpIP, raw)
	}
	path := filepath.Join(dir, "admin.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitFor calls check every interval until it reports true, failing the
// test with check's last output and diag() when ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, interval time.Duration, check func() (bool, string), diag func() string) {
	t.Helper()
	last := ""
	for {
		ok, out := check()
		if ok {
			return
		}
		last = out
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not by the deadline; last: %s\n%s", what, last, diag())
		case <-time.After(interval):
		}
	}
}

// logNodeMemory logs each node's memory as its kubelet reports it (the
// summary API: the kernel's available memory and the working set).
func logNodeMemory(t *testing.T, k func(args ...string) (string, error)) {
	for _, node := range []string{"cp", "w1"} {
		out, err := k("get", "--raw", "/api/v1/nodes/"+node+"/proxy/stats/summary")
		if err != nil {
			t.Logf("memory of %s: %v %s", node, err, out)
			continue
		}
		var s struct {
			Node struct {
				Memory struct {
					AvailableBytes  uint64 `json:"availableBytes"`
					WorkingSetBytes uint64 `json:"workingSetBytes"`
				} `json:"memory"`
			} `json:"node"`
		}
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Logf("memory of %s: %v", node, err)
			continue
		}
		t.Logf("memory of %s: %d MiB available, working set %d MiB", node,
			s.Node.Memory.AvailableBytes>>20, s.Node.Memory.WorkingSetBytes>>20)
	}
}

// clusterCA makes the cluster's CA as kubeadm would (RSA 2048, CA
// "kubernetes") and returns its certificate and key in PEM and the hash
// workers check it by (sha256 of its SubjectPublicKeyInfo).
func clusterCA(t *testing.T) (cert, key, hash string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "kubernetes"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	cert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	key = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	return cert, key, "sha256:" + hex.EncodeToString(sum[:])
}

// bootstrapToken makes a kubeadm bootstrap token, [a-z0-9]{6}.[a-z0-9]{16}.
func bootstrapToken(t *testing.T) string {
	t.Helper()
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 22)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b[:6]) + "." + string(b[6:])
}

// writeUserdata writes a node's JSON userdata (LinuxKit's tree form): its
// hostname and the kubernetes entries kubeadm.sh reads.
func writeUserdata(t *testing.T, dir, host string, entries map[string]string) string {
	t.Helper()
	kube := map[string]any{}
	for k, v := range entries {
		e := map[string]string{"content": v}
		if k == "ca.key" {
			e["perm"] = "0600"
		}
		kube[k] = e
	}
	data, err := json.Marshal(map[string]any{
		"hostname":   map[string]string{"content": host},
		"kubernetes": map[string]any{"entries": kube},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, host+".json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
