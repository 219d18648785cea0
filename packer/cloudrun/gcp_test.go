package cloudrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	compute "google.golang.org/api/compute/v1"
	"google.golang.org/api/option"

	"github.com/keel-os/keel/packer/cloudtest"
	"github.com/keel-os/keel/packer/push"
)

const (
	testProject = "proj"
	testZone    = "europe-west1-d"
)

// fakeGCE speaks the Compute Engine v1 REST shapes keel run gcp uses:
// instances insert/get/getSerialPortOutput/delete and zone operations
// wait. Operations are RUNNING when started and DONE at their first
// wait. The console holds lost bytes that fell out of the port's buffer
// before the first read, then text served chunk bytes a read; the
// instance is TERMINATED once all of it was served. fail queues answers
// given before the real one, by "METHOD path".
type fakeGCE struct {
	mu        sync.Mutex
	calls     []string
	starts    []string // the start= of each serial read
	requestID []string // of each insert and delete, as sent
	inserted  *compute.Instance
	instances map[string]string // name -> status
	ops       map[string]*compute.Operation
	opError   map[string]*compute.OperationError // outcome of the next op of this kind
	fail      map[string][]string                // "code body"
	lost      int
	text      string
	chunk     int
	onRead    func() // after each serial read
}

func newFakeGCE(text string, chunk int) *fakeGCE {
	return &fakeGCE{instances: map[string]string{}, ops: map[string]*compute.Operation{}, opError: map[string]*compute.OperationError{}, fail: map[string][]string{}, text: text, chunk: chunk}
}

// gceErr is a queued answer: the status, a space, the body.
func gceErr(code int, reason, msg string) string {
	return fmt.Sprint(code) + " " + cloudtest.GCEError(code, reason, msg)
}

func (f *fakeGCE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	onRead := f.onRead
	read := false
	defer func() {
		f.mu.Unlock()
		if read && onRead != nil {
			onRead()
		}
	}()
	path := strings.TrimPrefix(r.URL.Path, "/compute/v1/projects/"+testProject+"/zones/"+testZone+"/")
	key := r.Method + " " + path
	f.calls = append(f.calls, key)
	w.Header().Set("Content-Type", "application/json")
	if q := f.fail[key]; len(q) > 0 {
		f.fail[key] = q[1:]
		code, body, _ := strings.Cut(q[0], " ")
		n, _ := strconv.Atoi(code)
		w.WriteHeader(n)
		io.WriteString(w, body)
		return
	}
	reply := func(v any) { json.NewEncoder(w).Encode(v) }
	notFound := func() {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":404,"message":"The resource was not found","errors":[{"reason":"notFound","message":"The resource was not found"}]}}`)
	}
	newOp := func(kind string) *compute.Operation {
		op := &compute.Operation{Name: fmt.Sprintf("operation-%d", len(f.ops)+1), Status: "RUNNING", OperationType: kind, Error: f.opError[kind]}
		delete(f.opError, kind)
		f.ops[op.Name] = op
		return op
	}
	name := strings.TrimPrefix(path, "instances/")
	switch {
	case r.Method == http.MethodPost && path == "instances":
		var in compute.Instance
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.inserted = &in
		f.requestID = append(f.requestID, r.URL.Query().Get("requestId"))
		op := newOp("insert")
		if op.Error == nil {
			f.instances[in.Name] = "RUNNING"
		}
		reply(op)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "operations/") && strings.HasSuffix(path, "/wait"):
		op, ok := f.ops[strings.TrimSuffix(strings.TrimPrefix(path, "operations/"), "/wait")]
		if !ok {
			notFound()
			return
		}
		op.Status = "DONE"
		reply(op)
	case r.Method == http.MethodGet && strings.HasSuffix(name, "/serialPort"):
		status, ok := f.instances[strings.TrimSuffix(name, "/serialPort")]
		if !ok {
			notFound()
			return
		}
		start, _ := strconv.Atoi(r.URL.Query().Get("start"))
		f.starts = append(f.starts, r.URL.Query().Get("start")+" port="+r.URL.Query().Get("port"))
		start = max(start, f.lost)
		from := min(start-f.lost, len(f.text))
		to := min(from+f.chunk, len(f.text))
		if to == len(f.text) && status == "RUNNING" {
			f.instances[strings.TrimSuffix(name, "/serialPort")] = "TERMINATED"
		}
		read = true
		reply(&compute.SerialPortOutput{Contents: f.text[from:to], Start: int64(start), Next: int64(f.lost + to)})
	case r.Method == http.MethodGet:
		status, ok := f.instances[name]
		if !ok {
			notFound()
			return
		}
		reply(&compute.Instance{Name: name, Status: status})
	case r.Method == http.MethodDelete:
		if _, ok := f.instances[name]; !ok {
			notFound()
			return
		}
		f.requestID = append(f.requestID, r.URL.Query().Get("requestId"))
		delete(f.instances, name)
		reply(newOp("delete"))
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

func gceTest(t *testing.T, f *fakeGCE) *GCP {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &GCP{
		Project: testProject, Zone: testZone, Machine: "e2-small", Image: "sys",
		ComputeOptions: []option.ClientOption{option.WithEndpoint(srv.URL + "/compute/v1/"), option.WithoutAuthentication()},
		RetryDelay:     time.Millisecond, PollInterval: time.Millisecond,
	}
}

// TestGCPRun runs an instance to its end: the insert carries the image,
// disk, userdata and keys; the console is read from each answer's next
// offset (one read failing with 503 on the way) and written in order;
// the stopped instance is deleted.
func TestGCPRun(t *testing.T) {
	f := newFakeGCE("Booting Keel\nwelcome\npower off\n", 10)
	f.fail["GET instances/vm1/serialPort"] = []string{gceErr(503, "backendError", "try again")}
	g := gceTest(t, f)
	var console bytes.Buffer
	g.Name, g.DiskSize, g.Console = "vm1", 4, &console
	g.Userdata = []byte(`{"ssh":{"port":"22"}}`)
	g.SSHKeys = []string{"ssh-ed25519 AAAAC3 me@host"}
	g.VTPM = true
	name, err := g.Run(context.Background())
	if err != nil || name != "vm1" {
		t.Fatalf("got %q, %v, want vm1 and no error", name, err)
	}
	if console.String() != f.text {
		t.Errorf("got console %q, want %q", console.String(), f.text)
	}
	// 31 bytes: four reads of 10, the last seeing the end, and one more
	// after the stop was seen. The 503 is retried with the same start.
	wantStarts := []string{"0 port=1", "10 port=1", "20 port=1", "30 port=1", "31 port=1"}
	if !slices.Equal(f.starts, wantStarts) {
		t.Errorf("got serial reads %q, want %q", f.starts, wantStarts)
	}
	wantCalls := []string{"POST instances", "POST operations/operation-1/wait",
		"GET instances/vm1", "GET instances/vm1/serialPort", "GET instances/vm1/serialPort",
		"GET instances/vm1", "GET instances/vm1/serialPort",
		"GET instances/vm1", "GET instances/vm1/serialPort",
		"GET instances/vm1", "GET instances/vm1/serialPort",
		"GET instances/vm1", "GET instances/vm1/serialPort",
		"DELETE instances/vm1", "POST operations/operation-2/wait"}
	if !slices.Equal(f.calls, wantCalls) {
		t.Errorf("got calls\n%q, want\n%q", f.calls, wantCalls)
	}
	if len(f.instances) != 0 {
		t.Errorf("got instances %v left, want none", f.instances)
	}
	in := f.inserted
	if in.MachineType != "zones/"+testZone+"/machineTypes/e2-small" {
		t.Errorf("got machine type %q", in.MachineType)
	}
	if d := in.Disks[0]; !d.Boot || !d.AutoDelete || d.InitializeParams.SourceImage != "projects/proj/global/images/sys" || d.InitializeParams.DiskSizeGb != 4 {
		t.Errorf("got boot disk %+v %+v, want the image sys, 4 GB, deleted with the instance", d, d.InitializeParams)
	}
	meta := map[string]string{}
	for _, it := range in.Metadata.Items {
		meta[it.Key] = *it.Value
	}
	if meta["user-data"] != string(g.Userdata) || meta["ssh-keys"] != "keel:ssh-ed25519 AAAAC3 me@host" || len(meta) != 2 {
		t.Errorf("got metadata %q, want user-data and ssh-keys", meta)
	}
	if c := in.ShieldedInstanceConfig; c == nil || !c.EnableVtpm || c.EnableSecureBoot {
		t.Errorf("got shielded config %+v, want vTPM only", c)
	}
	if len(f.requestID) != 2 || f.requestID[0] == "" || f.requestID[0] == f.requestID[1] {
		t.Errorf("got request IDs %q, want one per call", f.requestID)
	}
}

// TestGCPRunLostConsole: output that fell out of the port's buffer before
// a read is reported, not silently skipped.
func TestGCPRunLostConsole(t *testing.T) {
	f := newFakeGCE("tail\n", 100)
	f.lost = 7
	g := gceTest(t, f)
	var console bytes.Buffer
	g.Name, g.Console, g.Keep = "vm1", &console, true
	if _, err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := "\n[keel: 7 bytes of console output were lost]\ntail\n"; console.String() != want {
		t.Errorf("got console %q, want %q", console.String(), want)
	}
	if slices.Contains(f.calls, "DELETE instances/vm1") || len(f.instances) != 1 {
		t.Errorf("--keep: got calls %q, want no delete", f.calls)
	}
}

// TestGCPRunCancel: Ctrl-C (ctx ending) while the console streams
// deletes the instance, with a context of its own.
func TestGCPRunCancel(t *testing.T) {
	f := newFakeGCE(strings.Repeat("x", 1000), 10)
	g := gceTest(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.onRead = cancel
	g.Name = "vm1"
	if _, err := g.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.starts) != 1 {
		t.Errorf("got %d serial reads, want 1 before the cancel", len(f.starts))
	}
	if !slices.Contains(f.calls, "DELETE instances/vm1") || len(f.instances) != 0 {
		t.Errorf("got calls %q and instances %v, want vm1 deleted", f.calls, f.instances)
	}
}

// TestGCPRunDetach returns once the instance runs: no console, no delete.
func TestGCPRunDetach(t *testing.T) {
	f := newFakeGCE("x", 1)
	g := gceTest(t, f)
	g.Detach = true
	g.Image = "projects/other/global/images/family/keel"
	name, err := g.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "keel-") || !gcpName.MatchString(name) {
		t.Errorf("got default name %q, want keel-SUFFIX", name)
	}
	if want := []string{"POST instances", "POST operations/operation-1/wait"}; !slices.Equal(f.calls, want) {
		t.Errorf("got calls %q, want %q", f.calls, want)
	}
	if src := f.inserted.Disks[0].InitializeParams.SourceImage; src != g.Image {
		t.Errorf("got source image %q, want %q", src, g.Image)
	}
}

// TestGCPRunErrors maps each error a user can fix to its kind and one
// line naming the fix.
func TestGCPRunErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    string
		opError string
		kind    push.ErrKind
		want    string
	}{
		{"denied", gceErr(403, "forbidden", "Required 'compute.instances.create' permission"), "", push.Denied, "compute.instances.create"},
		{"no image", gceErr(404, "notFound", "The resource 'projects/proj/global/images/sys' was not found"), "", push.NotFound, "images/sys' was not found"},
		{"taken", gceErr(409, "alreadyExists", "The resource already exists"), "", push.Conflict, "keel rm gcp vm1"},
		{"no credentials", gceErr(401, "authError", "Invalid Credentials"), "", push.NoCredentials, "gcloud auth application-default login"},
		{"quota", "", "QUOTA_EXCEEDED", push.Quota, "quota exceeded in project proj"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGCE("x", 1)
			if tc.fail != "" {
				f.fail["POST instances"] = []string{tc.fail}
			}
			if tc.opError != "" {
				f.opError["insert"] = &compute.OperationError{Errors: []*compute.OperationErrorErrors{{Code: tc.opError, Message: "Quota 'CPUS' exceeded"}}}
			}
			g := gceTest(t, f)
			g.Name = "vm1"
			_, err := g.Run(context.Background())
			if !push.IsKind(err, tc.kind) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want one line of kind %q containing %q", err, tc.kind, tc.want)
			}
			if len(f.instances) != 0 {
				t.Errorf("got instances %v left", f.instances)
			}
		})
	}
}

func TestGCPDelete(t *testing.T) {
	f := newFakeGCE("x", 1)
	f.instances["vm1"] = "RUNNING"
	g := gceTest(t, f)
	if err := g.Delete(context.Background(), "vm1"); err != nil {
		t.Fatal(err)
	}
	err := g.Delete(context.Background(), "vm1")
	if !push.IsKind(err, push.NotFound) || !strings.Contains(err.Error(), "instance vm1 not found in zone "+testZone) {
		t.Errorf("second delete: got %v, want instance vm1 not found", err)
	}
}

func TestGCPRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		set  func(*GCP)
		want string
	}{
		{func(g *GCP) { g.Project = "" }, "no project"},
		{func(g *GCP) { g.Zone = "Zone 1" }, "zone \"Zone 1\""},
		{func(g *GCP) { g.Image = "../x" }, "image \"../x\""},
		{func(g *GCP) { g.Name = "Bad_Name" }, "instance name \"Bad_Name\""},
		{func(g *GCP) { g.Userdata = make([]byte, GCPUserdataMax+1) }, "userdata of 262145 bytes"},
	} {
		f := newFakeGCE("x", 1)
		g := gceTest(t, f)
		tc.set(g)
		if _, err := g.Run(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
		if len(f.calls) != 0 {
			t.Errorf("got calls %q, want none", f.calls)
		}
	}
}

// TestGCPRunReal boots an image in a real project, only when a maintainer
// asks for it (docs/clouds.md); the instance is deleted at the end.
func TestGCPRunReal(t *testing.T) {
	project, image := os.Getenv("KEEL_TEST_GCP_PROJECT"), os.Getenv("KEEL_TEST_GCP_RUN_IMAGE")
	if project == "" || image == "" {
		t.Skip("talks to Google Cloud: set KEEL_TEST_GCP_PROJECT and KEEL_TEST_GCP_RUN_IMAGE (an image keel push gcp made) to run it")
	}
	zone := os.Getenv("KEEL_TEST_GCP_ZONE")
	if zone == "" {
		zone = "europe-west1-d"
	}
	var console bytes.Buffer
	g := &GCP{Project: project, Zone: zone, Machine: "e2-small", Image: image, Console: &console, Userdata: []byte("keel-test")}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name, err := g.Run(ctx)
	t.Logf("instance %s, console:\n%s", name, console.String())
	if err != nil {
		t.Fatal(err)
	}
	if console.Len() == 0 {
		t.Errorf("got no console output")
	}
}
