package cloudrun

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/keel-os/keel/packer/cloudtest"
	"github.com/keel-os/keel/packer/push"
)

// fakeEC2 speaks the EC2 query API (form-encoded Action=..., XML answers)
// for the calls keel run aws makes. The instance is pending at the first
// look and running after; each console read reveals chunk more bytes of
// text and answers the newest window of them; once all is revealed the
// instance is stopped. fail queues error answers by action.
type fakeEC2 struct {
	mu        sync.Mutex
	calls     []string
	run       url.Values
	state     map[string]string // instance ID -> state
	looks     int
	text      string
	shown     int
	chunk     int
	window    int
	noLatest  bool // answer UnsupportedOperation to Latest=true
	fail      map[string][]string
	onConsole func()
}

func newFakeEC2(text string, chunk, window int) *fakeEC2 {
	return &fakeEC2{state: map[string]string{}, fail: map[string][]string{}, text: text, chunk: chunk, window: window}
}

var ec2Err = cloudtest.EC2Error

const testInstance = "i-0123456789abcdef0"

func (f *fakeEC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	hook := f.onConsole
	console := false
	defer func() {
		f.mu.Unlock()
		if console && hook != nil {
			hook()
		}
	}()
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	action := r.PostForm.Get("Action")
	f.calls = append(f.calls, action)
	w.Header().Set("Content-Type", "text/xml")
	if q := f.fail[action]; len(q) > 0 {
		f.fail[action] = q[1:]
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, q[0])
		return
	}
	reply := func(body string) {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId>%s</%sResponse>`, action, body, action)
	}
	id := r.PostForm.Get("InstanceId.1")
	if id == "" {
		id = r.PostForm.Get("InstanceId")
	}
	switch action {
	case "DescribeImages":
		if r.PostForm.Get("Owner.1") == "self" && r.PostForm.Get("Filter.1.Name") == "name" && r.PostForm.Get("Filter.1.Value.1") == "sys" ||
			r.PostForm.Get("ImageId.1") == "ami-0123456789abcdef0" {
			reply("<imagesSet><item><imageId>ami-0123456789abcdef0</imageId><name>sys</name><rootDeviceName>/dev/xvda</rootDeviceName></item></imagesSet>")
			return
		}
		reply("<imagesSet/>")
	case "RunInstances":
		f.run = r.PostForm
		f.state[testInstance] = "pending"
		reply("<reservationId>r-1</reservationId><ownerId>1</ownerId><instancesSet><item><instanceId>" + testInstance + "</instanceId><instanceState><code>0</code><name>pending</name></instanceState></item></instancesSet>")
	case "DescribeInstances":
		st, ok := f.state[id]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, ec2Err("InvalidInstanceID.NotFound", "The instance ID '"+id+"' does not exist"))
			return
		}
		f.looks++
		if st == "pending" && f.looks > 1 {
			st = "running"
			f.state[id] = st
		}
		reply("<reservationSet><item><reservationId>r-1</reservationId><instancesSet><item><instanceId>" + id + "</instanceId><instanceState><code>16</code><name>" + st + "</name></instanceState></item></instancesSet></item></reservationSet>")
	case "GetConsoleOutput":
		if f.noLatest && r.PostForm.Get("Latest") == "true" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, ec2Err("UnsupportedOperation", "latest is only for Nitro"))
			return
		}
		console = true
		f.shown = min(f.shown+f.chunk, len(f.text))
		if f.shown == len(f.text) {
			f.state[id] = "stopped"
		}
		out := f.text[max(0, f.shown-f.window):f.shown]
		reply("<instanceId>" + id + "</instanceId><timestamp>2026-01-01T00:00:00.000Z</timestamp><output>" + base64.StdEncoding.EncodeToString([]byte(out)) + "</output>")
	case "TerminateInstances":
		if _, ok := f.state[id]; !ok {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, ec2Err("InvalidInstanceID.NotFound", "The instance ID '"+id+"' does not exist"))
			return
		}
		delete(f.state, id)
		reply("<instancesSet><item><instanceId>" + id + "</instanceId><currentState><code>32</code><name>shutting-down</name></currentState><previousState><code>16</code><name>running</name></previousState></item></instancesSet>")
	default:
		http.Error(w, "unexpected action "+action, http.StatusBadRequest)
	}
}

// ec2Test points the SDK's standard configuration at f: credentials and
// the endpoint from the environment, no shared files, no IMDS.
func ec2Test(t *testing.T, f *fakeEC2) *AWS {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cloudtest.AWSEnv(t, map[string]string{"EC2": srv.URL})
	return &AWS{
		Image: "sys", Machine: "t3.micro", PollInterval: time.Millisecond,
		EC2Options: []func(*ec2.Options){func(o *ec2.Options) {
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		}},
	}
}

// TestAWSRun runs an instance to its end: RunInstances carries the AMI
// found by name, the userdata in base64, the key pair, the root volume
// and the tags; the console, read as overlapping windows of its newest
// bytes, is written once and in order; the stopped instance is
// terminated.
func TestAWSRun(t *testing.T) {
	text := "Booting Keel\n"
	for i := range 20 {
		text += fmt.Sprintf("boot output line %d\n", i)
	}
	text += "power off\n"
	f := newFakeEC2(text, 37, 100)
	a := ec2Test(t, f)
	var console bytes.Buffer
	a.Console, a.Name, a.Zone, a.DiskSize, a.KeyName = &console, "vm1", "b", 8, "me"
	a.SecurityGroups = []string{"sg-1"}
	a.Userdata = []byte(`{"ssh":{"port":"22"}}`)
	id, err := a.Run(context.Background())
	if err != nil || id != testInstance {
		t.Fatalf("got %q, %v, want %s", id, err, testInstance)
	}
	if console.String() != text {
		t.Errorf("got console\n%q, want\n%q", console.String(), text)
	}
	// Pending, then running; a look and a read per poll until the read
	// that reveals the end, and one more after the stop was seen.
	reads := (len(text) + 36) / 37
	want := []string{"DescribeImages", "RunInstances", "DescribeInstances", "DescribeInstances"}
	for range reads + 1 {
		want = append(want, "DescribeInstances", "GetConsoleOutput")
	}
	want = append(want, "TerminateInstances")
	if !slices.Equal(f.calls, want) {
		t.Errorf("got calls\n%q, want\n%q", f.calls, want)
	}
	ud, _ := base64.StdEncoding.DecodeString(f.run.Get("UserData"))
	for k, v := range map[string]string{
		"ImageId": "ami-0123456789abcdef0", "InstanceType": "t3.micro", "MinCount": "1", "MaxCount": "1",
		"KeyName": "me", "SecurityGroupId.1": "sg-1", "Placement.AvailabilityZone": "eu-west-1b",
		"InstanceInitiatedShutdownBehavior": "stop",
		"BlockDeviceMapping.1.DeviceName":   "/dev/xvda", "BlockDeviceMapping.1.Ebs.VolumeSize": "8",
		"BlockDeviceMapping.1.Ebs.VolumeType": "gp3", "BlockDeviceMapping.1.Ebs.DeleteOnTermination": "true",
		"TagSpecification.1.ResourceType": "instance", "TagSpecification.1.Tag.1.Key": "Name", "TagSpecification.1.Tag.1.Value": "vm1",
	} {
		if got := f.run.Get(k); got != v {
			t.Errorf("RunInstances: got %s=%q, want %q", k, got, v)
		}
	}
	if string(ud) != string(a.Userdata) || f.run.Get("ClientToken") == "" {
		t.Errorf("RunInstances: got userdata %q and client token %q, want %q and a token", ud, f.run.Get("ClientToken"), a.Userdata)
	}
	if len(f.state) != 0 {
		t.Errorf("got instances %v left, want none", f.state)
	}
}

// TestAWSRunConsoleFallback: an instance type without the newest output
// (UnsupportedOperation for Latest) is read without it; a gap between two
// windows is reported.
func TestAWSRunConsoleFallback(t *testing.T) {
	f := newFakeEC2("0123456789abcdefghij", 10, 5)
	f.noLatest = true
	a := ec2Test(t, f)
	var console bytes.Buffer
	a.Console, a.Image, a.Keep = &console, "ami-0123456789abcdef0", true
	if _, err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := "56789\n[keel: some console output was lost]\nfghij"; console.String() != want {
		t.Errorf("got console %q, want %q", console.String(), want)
	}
	if n := strings.Count(strings.Join(f.calls, " "), "GetConsoleOutput"); n != 4 {
		t.Errorf("got %d console reads, want 4: one refused with Latest, three without (the last after the stop)", n)
	}
	if slices.Contains(f.calls, "TerminateInstances") {
		t.Errorf("--keep: got calls %q, want no termination", f.calls)
	}
	if got := f.run.Get("TagSpecification.1.Tag.1.Value"); !strings.HasPrefix(got, "sys-") {
		t.Errorf("got Name tag %q, want sys-SUFFIX", got)
	}
}

// TestAWSRunCancel: Ctrl-C while the console streams terminates the
// instance.
func TestAWSRunCancel(t *testing.T) {
	f := newFakeEC2(strings.Repeat("x", 1000), 10, 100)
	a := ec2Test(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.onConsole = cancel
	if _, err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.Join(f.calls, " "), "GetConsoleOutput"); n != 1 {
		t.Errorf("got %d console reads, want 1 before the cancel", n)
	}
	if !slices.Contains(f.calls, "TerminateInstances") || len(f.state) != 0 {
		t.Errorf("got calls %q, instances %v, want the instance terminated", f.calls, f.state)
	}
}

func TestAWSRunDetach(t *testing.T) {
	f := newFakeEC2("x", 1, 1)
	a := ec2Test(t, f)
	a.Detach = true
	id, err := a.Run(context.Background())
	if err != nil || id != testInstance {
		t.Fatalf("got %q, %v", id, err)
	}
	if want := []string{"DescribeImages", "RunInstances", "DescribeInstances", "DescribeInstances"}; !slices.Equal(f.calls, want) {
		t.Errorf("got calls %q, want %q", f.calls, want)
	}
	if f.run.Has("BlockDeviceMapping.1.DeviceName") || f.run.Has("UserData") || f.run.Has("KeyName") {
		t.Errorf("got %v, want no volume, userdata or key pair unless asked", f.run)
	}
}

func TestAWSRunErrors(t *testing.T) {
	for _, tc := range []struct {
		name, image, action, answer string
		kind                        push.ErrKind
		want                        string
	}{
		{"no AMI", "other", "", "", push.NotFound, "no AMI other in this account"},
		{"denied", "sys", "RunInstances", ec2Err("UnauthorizedOperation", "You are not authorized"), push.Denied, "ec2:RunInstances"},
		{"vcpu quota", "sys", "RunInstances", ec2Err("VcpuLimitExceeded", "You have requested more vCPU capacity"), push.Quota, "quota exceeded"},
		{"no key pair", "sys", "RunInstances", ec2Err("InvalidKeyPair.NotFound", "The key pair 'me' does not exist"), push.NotFound, "The key pair 'me' does not exist"},
		{"refused", "sys", "DescribeImages", ec2Err("AuthFailure", "AWS was not able to validate"), push.NoCredentials, "credentials were refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEC2("x", 1, 1)
			if tc.action != "" {
				f.fail[tc.action] = []string{tc.answer}
			}
			a := ec2Test(t, f)
			a.Image = tc.image
			_, err := a.Run(context.Background())
			if !push.IsKind(err, tc.kind) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want one line of kind %q containing %q", err, tc.kind, tc.want)
			}
		})
	}
}

func TestAWSDelete(t *testing.T) {
	f := newFakeEC2("x", 1, 1)
	f.state[testInstance] = "running"
	a := ec2Test(t, f)
	if err := a.Delete(context.Background(), testInstance); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(context.Background(), testInstance); !push.IsKind(err, push.NotFound) {
		t.Errorf("second delete: got %v, want not found", err)
	}
}

func TestNewOutput(t *testing.T) {
	for _, tc := range []struct {
		prev, cur, fresh string
		lost             bool
	}{
		{"", "abc", "abc", false},
		{"abc", "abc", "", false},
		{"abc", "abcdef", "def", false},
		{"abcdef", "defgh", "gh", false},
		{"aaaa", "aaab", "b", false},
		{"abc", "xyz", "xyz", true},
		{"abc", "", "", false},
	} {
		fresh, lost := newOutput([]byte(tc.prev), []byte(tc.cur))
		if string(fresh) != tc.fresh || lost != tc.lost {
			t.Errorf("newOutput(%q, %q) = %q, %v, want %q, %v", tc.prev, tc.cur, fresh, lost, tc.fresh, tc.lost)
		}
	}
}

// TestAWSRunReal boots an AMI in a real account, only when a maintainer
// asks for it (docs/clouds.md); the instance is terminated at the end.
func TestAWSRunReal(t *testing.T) {
	ami := os.Getenv("KEEL_TEST_AWS_RUN_AMI")
	if ami == "" {
		t.Skip("talks to AWS: set KEEL_TEST_AWS_RUN_AMI (an AMI keel push aws made; credentials and AWS_REGION as the SDK finds them) to run it")
	}
	var console bytes.Buffer
	a := &AWS{Image: ami, Machine: "t3.micro", Console: &console, Userdata: []byte("keel-test")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	id, err := a.Run(ctx)
	t.Logf("instance %s, console:\n%s", id, console.String())
	if err != nil {
		t.Fatal(err)
	}
	if console.Len() == 0 {
		t.Errorf("got no console output")
	}
}
