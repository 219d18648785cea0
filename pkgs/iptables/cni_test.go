// Package iptables holds the test of pkgs/iptables: the image has no Go
// program of its own.
package iptables

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/pkgbuild"
)

// The test binary runs itself in a network namespace as a small HTTP
// server or client (helperEnv says which), since the test process stays in
// the host's.
const helperEnv = "KEEL_CNI_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "serve":
		serve(os.Args[1], os.Args[2])
	case "get":
		get(os.Args[1])
	default:
		os.Exit(m.Run())
	}
}

// serve answers every request on addr with body.
func serve(addr, body string) {
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })}
	fmt.Fprintln(os.Stderr, srv.ListenAndServe())
	os.Exit(1)
}

// get prints url's answer, trying again for a few seconds (the server may
// not listen yet); it exits 1 if none came.
func get(url string) {
	c := &http.Client{Timeout: 2 * time.Second}
	var err error
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		var res *http.Response
		if res, err = c.Get(url); err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			os.Stdout.Write(b)
			os.Exit(0)
		}
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// TestCNIOutAndHostPort runs the CNI configuration pkgs/kubelet/kubeadm.sh
// writes with the plugins pkgs/kubernetes/node carries and this package's
// iptables (through chroot into the image, as on a node's root), in a
// replica of a node made of network namespaces: the node, a pod, and an
// "outside" network behind the node's uplink that has no route to pods.
// A pod must reach the outside (only masqueraded: ipMasq), and the
// outside must reach the pod at the node's address and hostPort
// (portmap). The same configuration without ipMasq, and without portmap,
// must fail the matching check: the checks can fail.
func TestCNIOutAndHostPort(t *testing.T) {
	if os.Getenv("KEEL_KUBERNETES") != "1" {
		t.Skip("set KEEL_KUBERNETES=1 (make test-kubernetes): builds the CNI plugins from pkgs/kubernetes's module")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, iptables, chroot")
	}
	for _, c := range []string{"apt-get", "unshare", "nsenter", "ip", "chroot", "tar"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("needs %s: %v", c, err)
		}
	}
	root := unpackImage(t)
	plugins := buildPlugins(t)
	wrappers := iptablesWrappers(t, root)
	conf := keelConflist(t, "10.244.1.0/24")

	for _, tc := range []struct {
		what             string
		edit             func([]map[string]any) []map[string]any
		egress, hostPort bool
	}{
		{"kubeadm.sh's configuration", nil, true, true},
		{"without ipMasq", func(p []map[string]any) []map[string]any { p[0]["ipMasq"] = false; return p }, false, true},
		{"without portmap", func(p []map[string]any) []map[string]any { return p[:1] }, true, false},
	} {
		t.Run(strings.ReplaceAll(tc.what, " ", "_"), func(t *testing.T) {
			chain := cloneChain(t, conf)
			if tc.edit != nil {
				chain = tc.edit(chain)
			}
			n := newNode(t)
			n.add(t, plugins, wrappers, chain)
			n.background(t, n.out, "serve", "10.0.2.2:9000", "OUTSIDE")
			n.background(t, n.pod, "serve", ":8080", "POD")

			body, err := n.run(n.pod, "get", "http://10.0.2.2:9000/")
			if got := err == nil && body == "OUTSIDE"; got != tc.egress {
				t.Errorf("the pod reaching the outside: got %v (%q, %v), want %v", got, body, err, tc.egress)
			}
			body, err = n.run(n.out, "get", "http://10.0.2.15:8090/")
			if got := err == nil && body == "POD"; got != tc.hostPort {
				t.Errorf("the outside reaching the pod at the node's hostPort: got %v (%q, %v), want %v", got, body, err, tc.hostPort)
			}
			if t.Failed() {
				rules, _ := n.exec(n.node, filepath.Join(wrappers, "iptables-save"), "-t", "nat")
				t.Logf("the node's nat table:\n%s", rules)
			}
		})
	}
}

// unpackImage builds this package and unpacks its image into a folder.
func unpackImage(t *testing.T) string {
	t.Helper()
	cache, err := image.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts := pkgbuild.Options{Cache: cache}
	if c := os.Getenv("KEEL_CACHE"); c != "" {
		opts.DebCache = filepath.Join(c, "debs")
	}
	ref, err := pkgbuild.Build(context.Background(), ".", opts)
	if err != nil {
		t.Fatal(err)
	}
	img, err := cache.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	tar := exec.Command("tar", "-x", "-C", root)
	tar.Stdin = image.Flatten(img)
	if out, err := tar.CombinedOutput(); err != nil {
		t.Fatalf("unpacking %s: %v\n%s", ref, err, out)
	}
	return root
}

// buildPlugins builds the CNI plugins of pkgs/kubernetes/node from that
// package's module, at the versions it pins.
func buildPlugins(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir := t.TempDir()
	args := []string{"build", "-trimpath", "-o", dir + "/"}
	for _, p := range []string{"main/bridge", "ipam/host-local", "meta/portmap"} {
		args = append(args, "github.com/containernetworking/plugins/plugins/"+p)
	}
	cmd := exec.Command(goCmd, args...)
	cmd.Dir = "../kubernetes"
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the CNI plugins: %v\n%s", err, out)
	}
	return dir
}

// iptablesWrappers makes a folder of iptables commands that run the
// image's, chrooted into it: what the plugins find in PATH on a node.
func iptablesWrappers(t *testing.T, root string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
		if _, err := os.Lstat(filepath.Join(root, "usr/sbin", n)); err != nil {
			t.Fatalf("the image has no /usr/sbin/%s: %v", n, err)
		}
		script := fmt.Sprintf("#!/bin/sh\nexec chroot %s /usr/sbin/%s \"$@\"\n", root, n)
		if err := os.WriteFile(filepath.Join(dir, n), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(filepath.Join(dir, "iptables"), "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "nf_tables") {
		t.Fatalf("iptables --version: got %q, %v; want the nf_tables backend", out, err)
	}
	return dir
}

// keelConflist is the CNI configuration kubeadm.sh writes (the here
// document it cats into 10-keel.conflist) for a node whose pod-cidr is
// podCIDR.
func keelConflist(t *testing.T, podCIDR string) map[string]any {
	t.Helper()
	script, err := os.ReadFile("../kubelet/kubeadm.sh")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(script), "10-keel.conflist <<CNI\n")
	doc, _, ok2 := strings.Cut(rest, "\nCNI\n")
	if !ok || !ok2 {
		t.Fatal("kubeadm.sh: no here document `<<CNI` writing 10-keel.conflist")
	}
	var conf map[string]any
	if err := json.Unmarshal([]byte(strings.ReplaceAll(doc, "$pod_cidr", podCIDR)), &conf); err != nil {
		t.Fatalf("kubeadm.sh's 10-keel.conflist: %v\n%s", err, doc)
	}
	return conf
}

// cloneChain returns a deep copy of conf's plugins, each with the list's
// name and cniVersion as a plugin's configuration carries them.
func cloneChain(t *testing.T, conf map[string]any) []map[string]any {
	t.Helper()
	b, _ := json.Marshal(conf["plugins"])
	var chain []map[string]any
	if err := json.Unmarshal(b, &chain); err != nil || len(chain) == 0 {
		t.Fatalf("the conflist's plugins: %v (%s)", err, b)
	}
	for _, p := range chain {
		p["name"], p["cniVersion"] = conf["name"], conf["cniVersion"]
	}
	return chain
}

// node is a replica of a Kubernetes node's networks, each a network
// namespace held by a sleeping process: the node, a pod, and the outside
// (10.0.2.2, QEMU's user network gateway) on the node's uplink eth0
// (10.0.2.15, its default route), with no route to the pods.
type node struct {
	node, pod, out int // PIDs whose network namespaces these are
}

func newNode(t *testing.T) *node {
	t.Helper()
	n := &node{node: holdNetns(t), pod: holdNetns(t), out: holdNetns(t)}
	for _, step := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", fmt.Sprint(n.out)},
		{"ip", "addr", "add", "10.0.2.15/24", "dev", "eth0"},
		{"ip", "link", "set", "eth0", "up"},
		{"ip", "route", "add", "default", "via", "10.0.2.2"},
		{"sh", "-c", "echo 1 >/proc/sys/net/ipv4/ip_forward"},
	} {
		if out, err := n.exec(n.node, step[0], step[1:]...); err != nil {
			t.Fatalf("the node's network: %v: %v\n%s", step, err, out)
		}
	}
	for _, step := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "addr", "add", "10.0.2.2/24", "dev", "eth0"},
		{"ip", "link", "set", "eth0", "up"},
	} {
		if out, err := n.exec(n.out, step[0], step[1:]...); err != nil {
			t.Fatalf("the outside network: %v: %v\n%s", step, err, out)
		}
	}
	return n
}

// holdNetns starts a process in a new network namespace, ended with the
// test, and returns its PID.
func holdNetns(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("unshare", "--net", "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// unshare execs sleep once the namespace is made.
	for i := 0; i < 100; i++ {
		a, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
		b, _ := os.Readlink("/proc/self/ns/net")
		if a != "" && a != b {
			return cmd.Process.Pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("unshare --net made no network namespace")
	return 0
}

// exec runs a command in pid's network namespace.
func (n *node) exec(pid int, name string, args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"--net=" + netns(pid), "--", name}, args...)...).CombinedOutput()
	return string(out), err
}

// run runs the test binary as a helper in pid's network namespace and
// returns what it printed.
func (n *node) run(pid int, mode string, args ...string) (string, error) {
	cmd := n.helper(pid, mode, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// background starts a helper in pid's network namespace until the test ends.
func (n *node) background(t *testing.T, pid int, mode string, args ...string) {
	t.Helper()
	cmd := n.helper(pid, mode, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

func (n *node) helper(pid int, mode string, args ...string) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	cmd := exec.Command("nsenter", append([]string{"--net=" + netns(pid), "--", self}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

// add runs chain's plugins (CNI ADD) for the pod, in the node's network
// namespace, each given the one before's result, as containerd's CNI
// library does; portmap gets the pod's hostPort 8090 to 8080 as CRI
// hands it.
func (n *node) add(t *testing.T, plugins, wrappers string, chain []map[string]any) {
	t.Helper()
	ipamDir := t.TempDir()
	var prev json.RawMessage
	for _, p := range chain {
		if ipam, ok := p["ipam"].(map[string]any); ok {
			ipam["dataDir"] = ipamDir // host-local's default is the host's /var/lib/cni
		}
		if caps, ok := p["capabilities"].(map[string]any); ok && caps["portMappings"] == true {
			p["runtimeConfig"] = map[string]any{"portMappings": []map[string]any{
				{"hostPort": 8090, "containerPort": 8080, "protocol": "tcp"}}}
		}
		if prev != nil {
			p["prevResult"] = prev
		}
		conf, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		typ, _ := p["type"].(string)
		cmd := exec.Command("nsenter", "--net="+netns(n.node), "--", filepath.Join(plugins, typ))
		cmd.Stdin = bytes.NewReader(conf)
		cmd.Env = append(os.Environ(), "CNI_COMMAND=ADD", "CNI_CONTAINERID=keeltest", "CNI_IFNAME=eth0",
			"CNI_NETNS="+netns(n.pod), "CNI_PATH="+plugins, "PATH="+wrappers+":"+os.Getenv("PATH"))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("CNI plugin %s: %v\n%s%s\nits configuration: %s", typ, err, out.String(), errb.String(), conf)
		}
		prev = json.RawMessage(bytes.TrimSpace(out.Bytes()))
	}
}

func netns(pid int) string { return fmt.Sprintf("/proc/%d/ns/net", pid) }
