package cloudrun

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/keel-os/keel/packer/cloudtest"
	"github.com/keel-os/keel/packer/push"
)

// ec2Test points the SDK's standard configuration at f: credentials and
// the endpoint from the environment, no shared files, no IMDS.
func ec2Test(t *testing.T, f *cloudtest.EC2) *AWS {
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
	f := cloudtest.NewEC2(text, 37, 100)
	a := ec2Test(t, f)
	var console bytes.Buffer
	a.Console, a.Name, a.Zone, a.DiskSize, a.KeyName = &console, "vm1", "b", 8, "me"
	a.SecurityGroups = []string{"sg-1"}
	a.Userdata = []byte(`{"ssh":{"port":"22"}}`)
	id, err := a.Run(context.Background())
	if err != nil || id != cloudtest.Instance {
		t.Fatalf("got %q, %v, want %s", id, err, cloudtest.Instance)
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
	if !slices.Equal(f.Calls, want) {
		t.Errorf("got calls\n%q, want\n%q", f.Calls, want)
	}
	ud, _ := base64.StdEncoding.DecodeString(f.Run.Get("UserData"))
	for k, v := range map[string]string{
		"ImageId": cloudtest.AMI, "InstanceType": "t3.micro", "MinCount": "1", "MaxCount": "1",
		"KeyName": "me", "SecurityGroupId.1": "sg-1", "Placement.AvailabilityZone": "eu-west-1b",
		"InstanceInitiatedShutdownBehavior": "stop",
		"BlockDeviceMapping.1.DeviceName":   "/dev/xvda", "BlockDeviceMapping.1.Ebs.VolumeSize": "8",
		"BlockDeviceMapping.1.Ebs.VolumeType": "gp3", "BlockDeviceMapping.1.Ebs.DeleteOnTermination": "true",
		"TagSpecification.1.ResourceType": "instance", "TagSpecification.1.Tag.1.Key": "Name", "TagSpecification.1.Tag.1.Value": "vm1",
	} {
		if got := f.Run.Get(k); got != v {
			t.Errorf("RunInstances: got %s=%q, want %q", k, got, v)
		}
	}
	if string(ud) != string(a.Userdata) || f.Run.Get("ClientToken") == "" {
		t.Errorf("RunInstances: got userdata %q and client token %q, want %q and a token", ud, f.Run.Get("ClientToken"), a.Userdata)
	}
	if len(f.State) != 0 {
		t.Errorf("got instances %v left, want none", f.State)
	}
}

// TestAWSRunConsoleFallback: an instance type without the newest output
// (UnsupportedOperation for Latest) is read without it; a gap between two
// windows is reported.
func TestAWSRunConsoleFallback(t *testing.T) {
	f := cloudtest.NewEC2("0123456789abcdefghij", 10, 5)
	f.NoLatest = true
	a := ec2Test(t, f)
	var console bytes.Buffer
	a.Console, a.Image, a.Keep = &console, cloudtest.AMI, true
	if _, err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := "56789\n[keel: some console output was lost]\nfghij"; console.String() != want {
		t.Errorf("got console %q, want %q", console.String(), want)
	}
	if n := strings.Count(strings.Join(f.Calls, " "), "GetConsoleOutput"); n != 4 {
		t.Errorf("got %d console reads, want 4: one refused with Latest, three without (the last after the stop)", n)
	}
	if slices.Contains(f.Calls, "TerminateInstances") {
		t.Errorf("--keep: got calls %q, want no termination", f.Calls)
	}
	if got := f.Run.Get("TagSpecification.1.Tag.1.Value"); !strings.HasPrefix(got, "sys-") {
		t.Errorf("got Name tag %q, want sys-SUFFIX", got)
	}
}

// TestAWSRunCancel: Ctrl-C while the console streams terminates the
// instance.
func TestAWSRunCancel(t *testing.T) {
	f := cloudtest.NewEC2(strings.Repeat("x", 1000), 10, 100)
	a := ec2Test(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.OnConsole = cancel
	if _, err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.Join(f.Calls, " "), "GetConsoleOutput"); n != 1 {
		t.Errorf("got %d console reads, want 1 before the cancel", n)
	}
	if !slices.Contains(f.Calls, "TerminateInstances") || len(f.State) != 0 {
		t.Errorf("got calls %q, instances %v, want the instance terminated", f.Calls, f.State)
	}
}

func TestAWSRunDetach(t *testing.T) {
	f := cloudtest.NewEC2("x", 1, 1)
	a := ec2Test(t, f)
	a.Detach = true
	id, err := a.Run(context.Background())
	if err != nil || id != cloudtest.Instance {
		t.Fatalf("got %q, %v", id, err)
	}
	if want := []string{"DescribeImages", "RunInstances", "DescribeInstances", "DescribeInstances"}; !slices.Equal(f.Calls, want) {
		t.Errorf("got calls %q, want %q", f.Calls, want)
	}
	if f.Run.Has("BlockDeviceMapping.1.DeviceName") || f.Run.Has("UserData") || f.Run.Has("KeyName") {
		t.Errorf("got %v, want no volume, userdata or key pair unless asked", f.Run)
	}
}

func TestAWSRunErrors(t *testing.T) {
	for _, tc := range []struct {
		name, image, action, answer string
		kind                        push.ErrKind
		want                        string
	}{
		{"no AMI", "other", "", "", push.NotFound, "no AMI other in this account"},
		{"denied", "sys", "RunInstances", cloudtest.EC2Error("UnauthorizedOperation", "You are not authorized"), push.Denied, "ec2:RunInstances"},
		{"vcpu quota", "sys", "RunInstances", cloudtest.EC2Error("VcpuLimitExceeded", "You have requested more vCPU capacity"), push.Quota, "quota exceeded"},
		{"no key pair", "sys", "RunInstances", cloudtest.EC2Error("InvalidKeyPair.NotFound", "The key pair 'me' does not exist"), push.NotFound, "The key pair 'me' does not exist"},
		{"refused", "sys", "DescribeImages", cloudtest.EC2Error("AuthFailure", "AWS was not able to validate"), push.NoCredentials, "credentials were refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := cloudtest.NewEC2("x", 1, 1)
			if tc.action != "" {
				f.Fail[tc.action] = []string{tc.answer}
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
	f := cloudtest.NewEC2("x", 1, 1)
	f.State[cloudtest.Instance] = "running"
	a := ec2Test(t, f)
	if err := a.Delete(context.Background(), cloudtest.Instance); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(context.Background(), cloudtest.Instance); !push.IsKind(err, push.NotFound) {
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
