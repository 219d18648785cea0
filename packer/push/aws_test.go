package push

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/keel-os/keel/packer/cloudtest"
)

// fakeEC2 speaks the EC2 query API (form-encoded Action=..., XML answers)
// for the calls keel push makes. An import is "active" at its first look
// and "completed" at the next, so the waiting runs. fail queues error
// answers given before the real one, by action.
type fakeEC2 struct {
	mu       sync.Mutex
	calls    []string
	images   map[string][2]string // name -> image ID, description
	looks    int
	fail     map[string][]fakeAnswer
	importAs string // the status an import ends in: completed (default) or deleted
	register url.Values
}

func (f *fakeEC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	action := r.PostForm.Get("Action")
	f.calls = append(f.calls, action)
	w.Header().Set("Content-Type", "text/xml")
	if q := f.fail[action]; len(q) > 0 {
		f.fail[action] = q[1:]
		w.WriteHeader(q[0].code)
		io.WriteString(w, q[0].body)
		return
	}
	reply := func(body string) {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId>%s</%sResponse>`, action, body, action)
	}
	switch action {
	case "DescribeImages":
		name := r.PostForm.Get("Filter.1.Value.1")
		if r.PostForm.Get("Owner.1") != "self" || r.PostForm.Get("Filter.1.Name") != "name" {
			http.Error(w, "want Owner.1=self and a name filter, got "+r.PostForm.Encode(), http.StatusBadRequest)
			return
		}
		set := ""
		if img, ok := f.images[name]; ok {
			set = fmt.Sprintf("<item><imageId>%s</imageId><name>%s</name><description>%s</description></item>", img[0], name, img[1])
		}
		reply("<imagesSet>" + set + "</imagesSet>")
	case "ImportSnapshot":
		if r.PostForm.Get("DiskContainer.Format") != "raw" || r.PostForm.Get("DiskContainer.UserBucket.S3Bucket") != "bkt" || r.PostForm.Get("DiskContainer.UserBucket.S3Key") != "sys.raw" {
			http.Error(w, "unexpected import "+r.PostForm.Encode(), http.StatusBadRequest)
			return
		}
		reply("<importTaskId>import-snap-1</importTaskId>")
	case "DescribeImportSnapshotTasks":
		f.looks++
		status, detail := "active", "<progress>40</progress>"
		if f.looks > 1 {
			status, detail = "completed", "<snapshotId>snap-1</snapshotId>"
			if f.importAs != "" {
				status, detail = f.importAs, "<statusMessage>ClientError: The service role vmimport provided does not exist or does not have sufficient permissions</statusMessage>"
			}
		}
		reply(fmt.Sprintf("<importSnapshotTaskSet><item><importTaskId>import-snap-1</importTaskId><snapshotTaskDetail><status>%s</status>%s</snapshotTaskDetail></item></importSnapshotTaskSet>", status, detail))
	case "DeregisterImage":
		for n, img := range f.images {
			if img[0] == r.PostForm.Get("ImageId") {
				delete(f.images, n)
			}
		}
		reply("<return>true</return>")
	case "RegisterImage":
		f.register = r.PostForm
		f.images[r.PostForm.Get("Name")] = [2]string{"ami-new", r.PostForm.Get("Description")}
		reply("<imageId>ami-new</imageId>")
	default:
		http.Error(w, "unexpected action "+action, http.StatusBadRequest)
	}
}

var ec2Error = cloudtest.EC2Error

// awsTestEnv starts gofakes3 (in-process, behind a recorder of how each
// request uploads) with a bucket and the fake EC2, and points the SDK's
// standard configuration at them: static credentials and endpoint URLs
// from the environment, no shared files, no instance metadata.
func awsTestEnv(t *testing.T) (*s3mem.Backend, *[]string, *fakeEC2) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	s3h := gofakes3.New(backend).Server()
	var mu sync.Mutex
	var uploads []string
	s3srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		switch {
		case r.Method == http.MethodPost && q.Has("uploads"):
			uploads = append(uploads, "CreateMultipartUpload")
		case r.Method == http.MethodPut && q.Has("partNumber"):
			uploads = append(uploads, "UploadPart "+q.Get("partNumber"))
		case r.Method == http.MethodPost && q.Has("uploadId"):
			uploads = append(uploads, "CompleteMultipartUpload")
		case r.Method == http.MethodPut:
			uploads = append(uploads, "PutObject")
		}
		mu.Unlock()
		s3h.ServeHTTP(w, r)
	}))
	t.Cleanup(s3srv.Close)
	fe := &fakeEC2{images: map[string][2]string{}, fail: map[string][]fakeAnswer{}}
	ec2srv := httptest.NewServer(fe)
	t.Cleanup(ec2srv.Close)
	cloudtest.AWSEnv(t, map[string]string{"S3": s3srv.URL, "EC2": ec2srv.URL})
	return backend, &uploads, fe
}

// testAWS is an AWS pusher with path-style S3 (what gofakes3 serves) and
// retries without waiting.
func testAWS() *AWS {
	return &AWS{
		Bucket: "bkt", PartSize: 5 << 20, PollInterval: time.Millisecond,
		S3Options: []func(*s3.Options){func(o *s3.Options) { o.UsePathStyle = true }},
		EC2Options: []func(*ec2.Options){func(o *ec2.Options) {
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		}},
	}
}

func writeRaw(t *testing.T, disk []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sys.raw")
	if err := os.WriteFile(p, disk, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAWSPush(t *testing.T) {
	full := []string{"DescribeImages", "ImportSnapshot", "DescribeImportSnapshotTasks", "DescribeImportSnapshotTasks", "RegisterImage"}
	tests := []struct {
		name      string
		mode      BootMode
		size      int
		existing  string // description of an AMI already of that name; "same" for this file's
		replace   bool
		fail      map[string][]fakeAnswer
		importAs  string
		wantCalls []string
		wantParts []string
		reused    bool
		wantErr   ErrKind
		wantMsg   string
	}{
		{
			name: "bios image in three parts", mode: BIOS, size: 11 << 20, wantCalls: full,
			wantParts: []string{"CreateMultipartUpload", "UploadPart 1", "UploadPart 2", "UploadPart 3", "CompleteMultipartUpload"},
		},
		{name: "uefi image", mode: UEFI, size: 64 << 10, wantCalls: full, wantParts: []string{"PutObject"}},
		{name: "same name, same digest: reused", mode: BIOS, size: 64 << 10, existing: "same", reused: true, wantCalls: []string{"DescribeImages"}},
		{name: "same name, other contents: conflict", mode: BIOS, size: 64 << 10, existing: "Keel image sha256:00", wantCalls: []string{"DescribeImages"}, wantErr: Conflict, wantMsg: "give --replace"},
		{
			name: "replace deregisters after the import", mode: BIOS, size: 64 << 10, existing: "Keel image sha256:00", replace: true,
			wantCalls: []string{"DescribeImages", "ImportSnapshot", "DescribeImportSnapshotTasks", "DescribeImportSnapshotTasks", "DeregisterImage", "RegisterImage"},
		},
		{
			name: "5xx and throttling are retried", mode: BIOS, size: 64 << 10,
			fail: map[string][]fakeAnswer{
				"RegisterImage":  {{503, ec2Error("Unavailable", "try again")}},
				"ImportSnapshot": {{503, ec2Error("RequestLimitExceeded", "Request limit exceeded.")}},
			},
			wantCalls: []string{"DescribeImages", "ImportSnapshot", "ImportSnapshot", "DescribeImportSnapshotTasks", "DescribeImportSnapshotTasks", "RegisterImage", "RegisterImage"},
		},
		{
			name: "UnauthorizedOperation names the permission", mode: BIOS, size: 64 << 10,
			fail:      map[string][]fakeAnswer{"ImportSnapshot": {{403, ec2Error("UnauthorizedOperation", "You are not authorized to perform this operation.")}}},
			wantCalls: []string{"DescribeImages", "ImportSnapshot"}, wantErr: Denied, wantMsg: "need ec2:ImportSnapshot",
		},
		{
			name: "a missing vmimport role", mode: BIOS, size: 64 << 10,
			fail:      map[string][]fakeAnswer{"ImportSnapshot": {{400, ec2Error("InvalidParameter", "The service role vmimport provided does not exist or does not have sufficient permissions")}}},
			wantCalls: []string{"DescribeImages", "ImportSnapshot"}, wantErr: Denied, wantMsg: "vmimport service role",
		},
		{
			name: "an import that fails on the role", mode: BIOS, size: 64 << 10, importAs: "deleted",
			wantCalls: []string{"DescribeImages", "ImportSnapshot", "DescribeImportSnapshotTasks", "DescribeImportSnapshotTasks"}, wantErr: Denied, wantMsg: "vmimport service role",
		},
		{
			name: "a snapshot quota", mode: BIOS, size: 64 << 10,
			fail:      map[string][]fakeAnswer{"ImportSnapshot": {{400, ec2Error("ResourceLimitExceeded", "You have reached the maximum number of active import snapshot tasks.")}}},
			wantCalls: []string{"DescribeImages", "ImportSnapshot"}, wantErr: Quota, wantMsg: "Service Quotas",
		},
		{
			name: "a duplicate name at registration", mode: BIOS, size: 64 << 10,
			fail:      map[string][]fakeAnswer{"RegisterImage": {{400, ec2Error("InvalidAMIName.Duplicate", "AMI name sys is already in use by AMI ami-x")}}},
			wantCalls: full, wantErr: Conflict, wantMsg: "--replace",
		},
		{
			name: "refused credentials", mode: BIOS, size: 64 << 10,
			fail:      map[string][]fakeAnswer{"DescribeImages": {{401, ec2Error("AuthFailure", "AWS was not able to validate the provided access credentials")}}},
			wantCalls: []string{"DescribeImages"}, wantErr: NoCredentials, wantMsg: "aws sso login",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backend, parts, fe := awsTestEnv(t)
			path := writeRaw(t, testDisk(t, tt.mode, tt.size))
			data, _ := os.ReadFile(path)
			digest := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
			if tt.existing != "" {
				d := tt.existing
				if d == "same" {
					d = description(digest)
				}
				fe.images["sys"] = [2]string{"ami-old", d}
			}
			for k, v := range tt.fail {
				fe.fail[k] = v
			}
			fe.importAs = tt.importAs
			rep := &countingReporter{}
			a := testAWS()
			a.Replace, a.Progress = tt.replace, rep
			res, err := a.Push(context.Background(), path)
			if !slices.Equal(fe.calls, tt.wantCalls) {
				t.Errorf("got EC2 calls %q, want %q", fe.calls, tt.wantCalls)
			}
			if tt.wantErr != "" {
				if !IsKind(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("got error %v, want one line, a %s error containing %q", err, tt.wantErr, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantID := "ami-new"
			if tt.reused {
				wantID = "ami-old"
			}
			if res.ID != wantID || res.Digest != digest || res.Name != "sys" || res.Object != "s3://bkt/sys.raw" || res.BootMode != string(tt.mode) || res.Reused != tt.reused {
				t.Errorf("got result %+v, want ID %s, name sys, digest %s, object s3://bkt/sys.raw, boot mode %s, reused %v", res, wantID, digest, tt.mode, tt.reused)
			}
			obj, oerr := backend.GetObject("bkt", "sys.raw", nil)
			if tt.reused {
				if oerr == nil {
					t.Errorf("got an upload, want none")
				}
				return
			}
			if oerr != nil {
				t.Fatalf("object not uploaded: %v", oerr)
			}
			got, _ := io.ReadAll(obj.Contents)
			obj.Contents.Close()
			if string(got) != string(data) || obj.Metadata["X-Amz-Meta-Keel-Digest"] != digest {
				t.Errorf("got object of %d bytes, metadata %v; want the file's %d bytes, keel-digest %s", len(got), obj.Metadata, len(data), digest)
			}
			// Parts go up concurrently, in any order.
			if got := slices.Sorted(slices.Values(*parts)); tt.wantParts != nil && !slices.Equal(got, slices.Sorted(slices.Values(tt.wantParts))) {
				t.Errorf("got S3 requests %q, want %q in any order", *parts, tt.wantParts)
			}
			if rep.bytes != int64(len(data)) || rep.total != int64(len(data)) || !rep.done {
				t.Errorf("got progress %d of %d (done %v), want %d of %d, done", rep.bytes, rep.total, rep.done, len(data), len(data))
			}
			wantBoot := map[BootMode]string{BIOS: "legacy-bios", UEFI: "uefi"}[tt.mode]
			for k, v := range map[string]string{
				"Name": "sys", "BootMode": wantBoot, "Architecture": "x86_64", "EnaSupport": "true", "SriovNetSupport": "simple",
				"VirtualizationType": "hvm", "RootDeviceName": "/dev/xvda", "Description": description(digest),
				"BlockDeviceMapping.1.DeviceName": "/dev/xvda", "BlockDeviceMapping.1.Ebs.SnapshotId": "snap-1",
				"BlockDeviceMapping.1.Ebs.DeleteOnTermination": "true", "BlockDeviceMapping.1.Ebs.VolumeType": "gp3",
			} {
				if got := fe.register.Get(k); got != v {
					t.Errorf("RegisterImage: got %s=%q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestAWSNoBucketNoRegion(t *testing.T) {
	awsTestEnv(t)
	path := writeRaw(t, testDisk(t, BIOS, 64<<10))
	a := testAWS()
	a.Bucket = ""
	if _, err := a.Push(context.Background(), path); err == nil || !strings.Contains(err.Error(), "no bucket: give --bucket") {
		t.Errorf("no bucket: got %v, want an error naming --bucket", err)
	}
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	if _, err := testAWS().Push(context.Background(), path); err == nil || !strings.Contains(err.Error(), "no region: give --region") {
		t.Errorf("no region: got %v, want an error naming --region", err)
	}
	a = testAWS()
	a.Name = "x"
	if _, err := a.Push(context.Background(), path); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("short name: got %v, want it refused", err)
	}
}

func TestAWSMissingBucket(t *testing.T) {
	awsTestEnv(t)
	path := writeRaw(t, testDisk(t, BIOS, 64<<10))
	a := testAWS()
	a.Bucket = "nope"
	_, err := a.Push(context.Background(), path)
	if !IsKind(err, NotFound) || !strings.Contains(err.Error(), "aws s3 mb s3://nope") {
		t.Errorf("got %v, want a not-found error saying how to create the bucket", err)
	}
}

// TestAWSNoCredentials runs the SDK's own credential chain with nothing to
// find: the error must say how to log in.
func TestAWSNoCredentials(t *testing.T) {
	awsTestEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	path := writeRaw(t, testDisk(t, BIOS, 64<<10))
	_, err := testAWS().Push(context.Background(), path)
	if !IsKind(err, NoCredentials) || !strings.Contains(err.Error(), "aws configure") {
		t.Errorf("got %v, want a no-credentials error naming aws configure", err)
	}
}

// TestAWSReal pushes to a real account, only when a maintainer names the
// bucket and an aws image (docs/clouds.md); it deregisters the AMI it made
// and deletes its snapshot (the object stays in the bucket).
func TestAWSReal(t *testing.T) {
	bucket, image := os.Getenv("KEEL_TEST_AWS_BUCKET"), os.Getenv("KEEL_TEST_AWS_IMAGE")
	if bucket == "" || image == "" {
		t.Skip("talks to AWS: set KEEL_TEST_AWS_BUCKET and KEEL_TEST_AWS_IMAGE (a -format aws file), with credentials and a region in the usual places, to run it")
	}
	ctx := context.Background()
	a := &AWS{Bucket: bucket, Name: fmt.Sprintf("keel-test-%d", time.Now().Unix()), Log: testLog{t}}
	res, err := a.Push(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pushed %+v", res)
	if again, err := a.Push(ctx, image); err != nil || !again.Reused {
		t.Errorf("second push: got %+v, %v, want the AMI reused", again, err)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ec := ec2.NewFromConfig(cfg)
	img, err := a.findImage(ctx, ec, a.Name)
	if err != nil || img == nil {
		t.Fatalf("find %s again: %v", a.Name, err)
	}
	if _, err := ec.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: img.ImageId}); err != nil {
		t.Errorf("clean up: %v (deregister %s by hand)", err, res.ID)
	}
	for _, m := range img.BlockDeviceMappings {
		if m.Ebs != nil && m.Ebs.SnapshotId != nil {
			if _, err := ec.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: m.Ebs.SnapshotId}); err != nil {
				t.Errorf("clean up: %v (delete snapshot %s by hand)", err, aws.ToString(m.Ebs.SnapshotId))
			}
		}
	}
}
