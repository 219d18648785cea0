package push

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	compute "google.golang.org/api/compute/v1"
	"google.golang.org/api/option"

	"github.com/keel-os/keel/packer/progress"
)

// fakeCompute speaks the Compute Engine v1 REST shapes keel push uses:
// images get/insert/delete and global operations wait. Each operation is
// RUNNING when started and DONE at its first wait, so the polling path
// runs. fail queues answers given before the real one, by "METHOD path".
type fakeCompute struct {
	mu      sync.Mutex
	calls   []string
	images  map[string]*compute.Image
	ops     map[string]*compute.Operation
	fail    map[string][]fakeAnswer
	opError *compute.OperationError // the outcome of the next insert
	inserts []string                // the request IDs of inserts, as sent
	body    *compute.Image          // the last image inserted
}

type fakeAnswer struct {
	code int
	body string
}

func newFakeCompute() *fakeCompute {
	return &fakeCompute{images: map[string]*compute.Image{}, ops: map[string]*compute.Operation{}, fail: map[string][]fakeAnswer{}}
}

const testProject = "proj"

func (f *fakeCompute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/compute/v1/projects/"+testProject+"/global/")
	key := r.Method + " " + path
	f.calls = append(f.calls, key)
	if q := f.fail[key]; len(q) > 0 {
		f.fail[key] = q[1:]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(q[0].code)
		io.WriteString(w, q[0].body)
		return
	}
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	newOp := func(target string) *compute.Operation {
		op := &compute.Operation{Name: fmt.Sprintf("operation-%d", len(f.ops)+1), Status: "RUNNING", TargetLink: target}
		f.ops[op.Name] = op
		return op
	}
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(path, "images/"):
		img, ok := f.images[strings.TrimPrefix(path, "images/")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"code":404,"message":"The resource was not found","errors":[{"reason":"notFound","message":"not found"}]}}`)
			return
		}
		reply(img)
	case r.Method == http.MethodPost && path == "images":
		var img compute.Image
		if err := json.NewDecoder(r.Body).Decode(&img); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.inserts = append(f.inserts, r.URL.Query().Get("requestId"))
		f.body = &img
		op := newOp("")
		if f.opError != nil {
			op.Error, f.opError = f.opError, nil
		} else {
			img.SelfLink = "https://www.googleapis.com/compute/v1/projects/" + testProject + "/global/images/" + img.Name
			f.images[img.Name] = &img
		}
		reply(op)
	case r.Method == http.MethodDelete && strings.HasPrefix(path, "images/"):
		delete(f.images, strings.TrimPrefix(path, "images/"))
		reply(newOp(""))
	case r.Method == http.MethodPost && strings.HasPrefix(path, "operations/") && strings.HasSuffix(path, "/wait"):
		op, ok := f.ops[strings.TrimSuffix(strings.TrimPrefix(path, "operations/"), "/wait")]
		if !ok {
			http.Error(w, `{"error":{"code":404,"message":"no such operation"}}`, http.StatusNotFound)
			return
		}
		op.Status = "DONE"
		reply(op)
	default:
		http.Error(w, "unexpected call "+key, http.StatusBadRequest)
	}
}

// gcsRecorder sits in front of fake-gcs-server and records how each
// upload was sent (uploadType), to prove the upload is resumable.
type gcsRecorder struct {
	mu    sync.Mutex
	types []string
}

// gcpTestEnv starts fake-gcs-server (in-process) behind the recorder with
// a bucket, points STORAGE_EMULATOR_HOST at it, and starts the fake
// Compute Engine.
func gcpTestEnv(t *testing.T) (*fakestorage.Server, *gcsRecorder, *fakeCompute, []option.ClientOption) {
	t.Helper()
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcs.Stop)
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "bkt"})
	target, _ := url.Parse(gcs.URL())
	rec := &gcsRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ut := r.URL.Query().Get("uploadType"); ut != "" {
			rec.mu.Lock()
			rec.types = append(rec.types, r.Method+" "+ut)
			rec.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	t.Setenv("STORAGE_EMULATOR_HOST", front.URL)

	fc := newFakeCompute()
	cs := httptest.NewServer(fc)
	t.Cleanup(cs.Close)
	opts := []option.ClientOption{option.WithEndpoint(cs.URL + "/compute/v1/"), option.WithoutAuthentication()}
	return gcs, rec, fc, opts
}

type countingReporter struct {
	mu    sync.Mutex
	bytes int64
	total int64
	done  bool
}

func (c *countingReporter) Start(_ progress.Kind, _ string, total int64) progress.Task {
	c.total = total
	return c
}
func (c *countingReporter) Step(progress.Step) {}
func (c *countingReporter) Add(n int64) {
	c.mu.Lock()
	c.bytes += n
	c.mu.Unlock()
}
func (c *countingReporter) Done(err error) { c.done = err == nil }

func TestGCPPush(t *testing.T) {
	const lost = `{"error":{"code":503,"message":"backend unavailable","errors":[{"reason":"backendError","message":"backend unavailable"}]}}`
	const slow = `{"error":{"code":429,"message":"rate limited","errors":[{"reason":"rateLimitExceeded","message":"rate limited"}]}}`
	tests := []struct {
		name      string
		mode      BootMode
		existing  string // description of an image already of that name; "same" for this file's
		replace   bool
		fail      map[string][]fakeAnswer
		wantCalls []string
		wantFeat  []string
		reused    bool
		uploads   bool
		wantErr   ErrKind
	}{
		{
			name: "new bios image", mode: BIOS, uploads: true,
			wantCalls: []string{"GET images/sys", "POST images", "POST operations/operation-1/wait", "GET images/sys"},
		},
		{
			name: "uefi image is marked UEFI_COMPATIBLE", mode: UEFI, uploads: true,
			wantCalls: []string{"GET images/sys", "POST images", "POST operations/operation-1/wait", "GET images/sys"},
			wantFeat:  []string{"UEFI_COMPATIBLE"},
		},
		{
			name: "same name, same digest: reused", mode: BIOS, existing: "same", reused: true,
			wantCalls: []string{"GET images/sys"},
		},
		{
			name: "same name, other contents: conflict", mode: BIOS, existing: "Keel image sha256:00",
			wantCalls: []string{"GET images/sys"}, wantErr: Conflict,
		},
		{
			name: "replace deletes first", mode: BIOS, existing: "Keel image sha256:00", replace: true, uploads: true,
			wantCalls: []string{"GET images/sys", "DELETE images/sys", "POST operations/operation-1/wait", "POST images", "POST operations/operation-2/wait", "GET images/sys"},
		},
		{
			name: "5xx and 429 are retried", mode: BIOS, uploads: true,
			fail:      map[string][]fakeAnswer{"POST images": {{503, lost}}, "GET images/sys": {{429, slow}}},
			wantCalls: []string{"GET images/sys", "GET images/sys", "POST images", "POST images", "POST operations/operation-1/wait", "GET images/sys"},
		},
		{
			name: "403 is a missing permission", mode: BIOS, uploads: true,
			fail:      map[string][]fakeAnswer{"POST images": {{403, `{"error":{"code":403,"message":"Required 'compute.images.create' permission for 'projects/proj/global/images/sys'","errors":[{"reason":"forbidden","message":"Required 'compute.images.create' permission"}]}}`}}},
			wantCalls: []string{"GET images/sys", "POST images"}, wantErr: Denied,
		},
		{
			name: "403 quotaExceeded is a quota", mode: BIOS, uploads: true,
			fail:      map[string][]fakeAnswer{"POST images": {{403, `{"error":{"code":403,"message":"Quota 'IMAGES' exceeded.","errors":[{"reason":"quotaExceeded","message":"Quota 'IMAGES' exceeded."}]}}`}}},
			wantCalls: []string{"GET images/sys", "POST images"}, wantErr: Quota,
		},
		{
			name: "409 is a name conflict", mode: BIOS, uploads: true,
			fail:      map[string][]fakeAnswer{"POST images": {{409, `{"error":{"code":409,"message":"The resource 'projects/proj/global/images/sys' already exists","errors":[{"reason":"alreadyExists","message":"exists"}]}}`}}},
			wantCalls: []string{"GET images/sys", "POST images"}, wantErr: Conflict,
		},
		{
			name: "401 is missing credentials", mode: BIOS,
			fail:      map[string][]fakeAnswer{"GET images/sys": {{401, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","errors":[{"reason":"authError","message":"invalid"}]}}`}}},
			wantCalls: []string{"GET images/sys"}, wantErr: NoCredentials,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gcs, rec, fc, opts := gcpTestEnv(t)
			path := writeGCPImage(t, t.TempDir(), "sys", testDisk(t, tt.mode, 1<<20))
			data, _ := os.ReadFile(path)
			digest := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
			if tt.existing != "" {
				d := tt.existing
				if d == "same" {
					d = description(digest)
				}
				fc.images["sys"] = &compute.Image{Name: "sys", Description: d, SelfLink: "old-link"}
			}
			for k, v := range tt.fail {
				fc.fail[k] = v
			}
			rep := &countingReporter{}
			g := &GCP{Project: testProject, Bucket: "bkt", Family: "keel", Replace: tt.replace,
				ComputeOptions: opts, ChunkSize: 256 << 10, RetryDelay: time.Millisecond, PollInterval: time.Millisecond,
				Progress: rep}
			res, err := g.Push(context.Background(), path)
			if !slices.Equal(fc.calls, tt.wantCalls) {
				t.Errorf("got calls %q, want %q", fc.calls, tt.wantCalls)
			}
			if tt.wantErr != "" {
				if !IsKind(err, tt.wantErr) {
					t.Fatalf("got error %v, want a %s error", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("got a multi-line error %q, want one line", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Digest != digest || res.Name != "sys" || res.Object != "gs://bkt/sys.img.tar.gz" || res.BootMode != string(tt.mode) || res.Reused != tt.reused {
				t.Errorf("got result %+v, want name sys, digest %s, object gs://bkt/sys.img.tar.gz, boot mode %s, reused %v", res, digest, tt.mode, tt.reused)
			}
			obj, oerr := gcs.GetObject("bkt", "sys.img.tar.gz")
			if !tt.uploads {
				if oerr == nil {
					t.Errorf("got an upload, want none")
				}
				return
			}
			if oerr != nil {
				t.Fatalf("object not uploaded: %v", oerr)
			}
			if string(obj.Content) != string(data) || obj.Metadata["keel-digest"] != digest {
				t.Errorf("got object of %d bytes, metadata %v; want the file's %d bytes, keel-digest %s", len(obj.Content), obj.Metadata, len(data), digest)
			}
			if rep.bytes != int64(len(data)) || rep.total != int64(len(data)) || !rep.done {
				t.Errorf("got progress %d of %d (done %v), want %d of %d, done", rep.bytes, rep.total, rep.done, len(data), len(data))
			}
			// A 1 MiB file in 256 KiB chunks: the session's start, then
			// a request per chunk.
			if len(rec.types) < 3 || slices.ContainsFunc(rec.types, func(s string) bool { return !strings.HasSuffix(s, " resumable") }) {
				t.Errorf("got upload requests %q, want a resumable session in several chunks", rec.types)
			}
			if want := "https://www.googleapis.com/compute/v1/projects/proj/global/images/sys"; res.ID != want {
				t.Errorf("got ID %q, want %q", res.ID, want)
			}
			b := fc.body
			var feats []string
			for _, f := range b.GuestOsFeatures {
				feats = append(feats, f.Type)
			}
			if b.RawDisk == nil || b.RawDisk.Source != "https://storage.googleapis.com/bkt/sys.img.tar.gz" || b.Family != "keel" || b.Description != description(digest) || !slices.Equal(feats, tt.wantFeat) {
				t.Errorf("got image %+v (raw disk %+v, features %v), want source gs bkt/sys.img.tar.gz, family keel, the digest, features %v", b, b.RawDisk, feats, tt.wantFeat)
			}
			if len(fc.inserts) > 1 && fc.inserts[0] != fc.inserts[1] {
				t.Errorf("got request IDs %q across a retry, want one ID", fc.inserts)
			}
			if fc.inserts[0] == "" {
				t.Errorf("got no requestId on images.insert, want one (retries must be idempotent)")
			}
		})
	}
}

func TestGCPOperationErrors(t *testing.T) {
	tests := []struct {
		code string
		want ErrKind
	}{
		{"QUOTA_EXCEEDED", Quota},
		{"RESOURCE_ALREADY_EXISTS", Conflict},
		{"PERMISSION_DENIED", Denied},
	}
	for _, tt := range tests {
		_, _, fc, opts := gcpTestEnv(t)
		path := writeGCPImage(t, t.TempDir(), "sys", testDisk(t, BIOS, 64<<10))
		fc.opError = &compute.OperationError{Errors: []*compute.OperationErrorErrors{{Code: tt.code, Message: "from the operation"}}}
		g := &GCP{Project: testProject, Bucket: "bkt", ComputeOptions: opts, RetryDelay: time.Millisecond, PollInterval: time.Millisecond}
		_, err := g.Push(context.Background(), path)
		if !IsKind(err, tt.want) {
			t.Errorf("operation error %s: got %v, want a %s error", tt.code, err, tt.want)
		}
	}
}

func TestGCPRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	bios := writeGCPImage(t, dir, "sys", testDisk(t, BIOS, 64<<10))
	cert := dir + "/cert.pem"
	os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644)
	tests := []struct {
		name string
		g    GCP
		want string
	}{
		{"no project", GCP{Bucket: "b"}, "no project"},
		{"no bucket", GCP{Project: "p"}, "no bucket"},
		{"bad name", GCP{Project: "p", Bucket: "b", Name: "Sys_1"}, "not valid on Compute Engine"},
		{"bad family", GCP{Project: "p", Bucket: "b", Family: "-x"}, "--family"},
		{"secure boot on bios", GCP{Project: "p", Bucket: "b", SecureBootCert: cert}, "needs a UEFI image"},
	}
	for _, tt := range tests {
		_, err := tt.g.Push(context.Background(), bios)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestGCPMissingBucket(t *testing.T) {
	_, _, _, opts := gcpTestEnv(t)
	path := writeGCPImage(t, t.TempDir(), "sys", testDisk(t, BIOS, 64<<10))
	g := &GCP{Project: testProject, Bucket: "nope", ComputeOptions: opts, RetryDelay: time.Millisecond}
	_, err := g.Push(context.Background(), path)
	if !IsKind(err, NotFound) || !strings.Contains(err.Error(), "gcloud storage buckets create gs://nope") {
		t.Errorf("got %v, want a not-found error saying how to create the bucket", err)
	}
}

func TestGCPSecureBootCert(t *testing.T) {
	_, _, fc, opts := gcpTestEnv(t)
	dir := t.TempDir()
	path := writeGCPImage(t, dir, "sys", testDisk(t, UEFI, 64<<10))
	cert := dir + "/cert.pem"
	os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"), 0o644)
	g := &GCP{Project: testProject, Bucket: "bkt", SecureBootCert: cert, NestedVirt: true, ComputeOptions: opts, RetryDelay: time.Millisecond, PollInterval: time.Millisecond}
	if _, err := g.Push(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	b := fc.body
	var feats []string
	for _, f := range b.GuestOsFeatures {
		feats = append(feats, f.Type)
	}
	if want := []string{"UEFI_COMPATIBLE", "SECURE_BOOT"}; !slices.Equal(feats, want) {
		t.Errorf("got features %v, want %v", feats, want)
	}
	s := b.ShieldedInstanceInitialState
	if s == nil || len(s.Dbs) != 1 || s.Dbs[0].Content != "AQID" || s.Dbs[0].FileType != "X509" {
		t.Errorf("got shielded initial state %+v, want db = the certificate's DER (AQID), X509", s)
	}
	if len(b.Licenses) != 1 || !strings.HasSuffix(b.Licenses[0], "/licenses/enable-vmx") {
		t.Errorf("got licenses %v, want enable-vmx", b.Licenses)
	}
}

// TestGCPNoCredentials runs the SDK's own credential search in an empty
// environment: the error must say how to log in.
func TestGCPNoCredentials(t *testing.T) {
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("CLOUDSDK_CONFIG", t.TempDir())
	t.Setenv("NO_GCE_CHECK", "True") // no probe of the metadata server
	path := writeGCPImage(t, t.TempDir(), "sys", testDisk(t, BIOS, 64<<10))
	g := &GCP{Project: testProject, Bucket: "bkt"}
	_, err := g.Push(context.Background(), path)
	if !IsKind(err, NoCredentials) || !strings.Contains(err.Error(), "gcloud auth application-default login") {
		t.Errorf("got %v, want a no-credentials error naming gcloud auth application-default login", err)
	}
}

// TestGCPReal pushes to a real project, only when a maintainer asks for it
// by naming the project, the bucket and a gcp image (docs/clouds.md); it
// deletes the image it made. Credentials are the usual ADC.
func TestGCPReal(t *testing.T) {
	project, bucket, image := os.Getenv("KEEL_TEST_GCP_PROJECT"), os.Getenv("KEEL_TEST_GCP_BUCKET"), os.Getenv("KEEL_TEST_GCP_IMAGE")
	if project == "" || bucket == "" || image == "" {
		t.Skip("talks to Google Cloud: set KEEL_TEST_GCP_PROJECT, KEEL_TEST_GCP_BUCKET and KEEL_TEST_GCP_IMAGE (a -format gcp file) to run it")
	}
	ctx := context.Background()
	name := fmt.Sprintf("keel-test-%d", time.Now().Unix())
	g := &GCP{Project: project, Bucket: bucket, Name: name, Log: testLog{t}}
	res, err := g.Push(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pushed %+v", res)
	again, err := g.Push(ctx, image)
	if err != nil || !again.Reused {
		t.Errorf("second push: got %+v, %v, want the image reused", again, err)
	}
	svc, err := compute.NewService(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.do(ctx, svc, "delete image "+name, "compute.images.delete", func(id string) (*compute.Operation, error) {
		return svc.Images.Delete(project, name).RequestId(id).Context(ctx).Do()
	}); err != nil {
		t.Errorf("clean up: %v (delete image %s by hand)", err, name)
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
