package push

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/keel-os/keel/packer/progress"
)

// vcsim starts govmomi's in-process vCenter simulator (one datacenter,
// datastore LocalDS_0 backed by a temporary directory) over TLS with its
// own self-signed certificate, accepting only keel:s3cret. It returns the
// SDK URL without credentials.
func vcsim(t *testing.T) *url.URL {
	t.Helper()
	model := simulator.VPX()
	if err := model.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(model.Remove)
	model.Service.TLS = new(tls.Config)
	model.Service.Listen = &url.URL{User: url.UserPassword("keel", "s3cret")}
	s := model.Service.NewServer()
	t.Cleanup(s.Close)
	u := *s.URL
	u.User = nil
	return &u
}

// download reads a file back from the simulator's datastore the way a user
// would (an HTTP GET of the datastore's /folder URL).
func download(t *testing.T, u *url.URL, p string) ([]byte, bool) {
	t.Helper()
	ctx := context.Background()
	lu := *u
	lu.User = url.UserPassword("keel", "s3cret")
	c, err := govmomi.NewClient(ctx, &lu, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Logout(ctx)
	f := find.NewFinder(c.Client, false)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	ds, err := f.DatastoreOrDefault(ctx, "LocalDS_0")
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := ds.Download(ctx, p, nil)
	if err != nil {
		return nil, false
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

func writeImage(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVCenterPush(t *testing.T) {
	t.Setenv("GOVC_URL", "")
	t.Setenv("GOVC_USERNAME", "")
	t.Setenv("GOVC_PASSWORD", "")
	u := vcsim(t)
	withCreds := *u
	withCreds.User = url.UserPassword("keel", "s3cret")
	ctx := context.Background()

	first := bytes.Repeat([]byte("keel iso "), 100000)
	img := writeImage(t, "sys.iso", first)
	var steps recorder
	v := &VCenter{URL: withCreds.String(), Datastore: "LocalDS_0", Folder: "images/keel", Insecure: true, Progress: &steps}
	res, err := v.Push(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	digest, _, _ := fileDigest(img)
	if res.Name != "sys.iso" || res.Digest != digest || res.ID != "[LocalDS_0] images/keel/sys.iso" || res.Reused {
		t.Errorf("got %+v, want sys.iso, %s, [LocalDS_0] images/keel/sys.iso, not reused", res, digest)
	}
	if got, ok := download(t, u, "images/keel/sys.iso"); !ok || !bytes.Equal(got, first) {
		t.Errorf("got %d bytes on the datastore (found %v), want the %d of the image", len(got), ok, len(first))
	}
	if got, _ := download(t, u, "images/keel/sys.iso.sha256"); strings.TrimSpace(string(got)) != digest {
		t.Errorf("got digest file %q, want %s", got, digest)
	}
	if steps.uploaded != int64(len(first)) {
		t.Errorf("got %d bytes reported to the progress bar, want %d", steps.uploaded, len(first))
	}

	// The same file again, credentials from GOVC_*: nothing sent.
	t.Setenv("GOVC_URL", u.String())
	t.Setenv("GOVC_USERNAME", "keel")
	t.Setenv("GOVC_PASSWORD", "s3cret")
	steps = recorder{}
	again := &VCenter{Datastore: "LocalDS_0", Folder: "images/keel", Insecure: true, Progress: &steps}
	res, err = again.Push(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Reused || steps.uploaded != 0 {
		t.Errorf("re-push: got reused %v and %d bytes sent, want reused and 0", res.Reused, steps.uploaded)
	}

	// Other bytes under the same name: refused, then --replace.
	second := bytes.Repeat([]byte("another "), 50000)
	img2 := writeImage(t, "sys.iso", second)
	if _, err := again.Push(ctx, img2); !IsKind(err, Conflict) || !strings.Contains(err.Error(), "--replace") {
		t.Errorf("other bytes: got %v, want a conflict naming --replace", err)
	}
	again.Replace = true
	res, err = again.Push(ctx, img2)
	if err != nil {
		t.Fatal(err)
	}
	digest2, _, _ := fileDigest(img2)
	if res.Reused || res.Digest != digest2 {
		t.Errorf("--replace: got %+v, want a fresh push of %s", res, digest2)
	}
	if got, _ := download(t, u, "images/keel/sys.iso"); !bytes.Equal(got, second) {
		t.Errorf("--replace: got %d bytes on the datastore, want the %d of the new image", len(got), len(second))
	}
	if got, _ := download(t, u, "images/keel/sys.iso.sha256"); strings.TrimSpace(string(got)) != digest2 {
		t.Errorf("--replace: got digest file %q, want %s", got, digest2)
	}
}

func TestVCenterErrors(t *testing.T) {
	t.Setenv("GOVC_URL", "")
	t.Setenv("GOVC_USERNAME", "")
	t.Setenv("GOVC_PASSWORD", "")
	u := vcsim(t)
	img := writeImage(t, "sys.iso", []byte("small iso"))
	with := func(user, pass string) string {
		c := *u
		c.User = url.UserPassword(user, pass)
		return c.String()
	}
	for _, tc := range []struct {
		name string
		v    VCenter
		kind ErrKind
		want string
	}{
		{"bad password", VCenter{URL: with("keel", "wrong"), Insecure: true}, NoCredentials, "the user name or password was refused"},
		{"no credentials", VCenter{URL: u.String(), Insecure: true}, NoCredentials, "GOVC_USERNAME and GOVC_PASSWORD"},
		{"no url", VCenter{}, NoCredentials, "give --url"},
		{"no datastore", VCenter{URL: with("keel", "s3cret"), Datastore: "nosuch", Insecure: true}, NotFound, `datastore "nosuch" not found: check --datastore`},
		{"no datacenter", VCenter{URL: with("keel", "s3cret"), Datacenter: "nosuch", Insecure: true}, NotFound, `datacenter "nosuch" not found`},
		{"no host", VCenter{URL: with("keel", "s3cret"), Host: "nosuch", Insecure: true}, NotFound, `host "nosuch" not found: check --hostname`},
		{"untrusted certificate", VCenter{URL: with("keel", "s3cret")}, "", "give --insecure"},
		{"bad folder", VCenter{URL: with("keel", "s3cret"), Folder: "../up", Insecure: true}, "", "--folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Push(context.Background(), img)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line containing %q", err, tc.want)
			}
			if tc.kind != "" && !IsKind(err, tc.kind) {
				t.Errorf("got %v, want kind %s", err, tc.kind)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wrong") {
				t.Errorf("got %v, want no password in the error", err)
			}
		})
	}
}

// recorder counts the bytes a push reports to its progress bar.
type recorder struct{ uploaded int64 }

func (r *recorder) Start(progress.Kind, string, int64) progress.Task { return recTask{r} }
func (r *recorder) Step(progress.Step)                               {}

type recTask struct{ r *recorder }

func (t recTask) Add(n int64) { t.r.uploaded += n }
func (recTask) Done(error)    {}

// TestVCenterMapErr covers the refusals vcsim does not make: a fault
// naming the missing privilege (as a task's error), a file transfer's bare
// HTTP status, a full datastore.
func TestVCenterMapErr(t *testing.T) {
	v := &VCenter{}
	taskErr := func(f types.BaseMethodFault) error {
		return task.Error{LocalizedMethodFault: &types.LocalizedMethodFault{Fault: f, LocalizedMessage: "refused"}}
	}
	for _, tc := range []struct {
		err  error
		kind ErrKind
		want string
	}{
		{taskErr(&types.NoPermission{PrivilegeId: "Datastore.FileManagement"}), Denied, "needs the privilege Datastore.FileManagement"},
		{taskErr(&types.NoPermission{}), Denied, "needs the privilege Datastore.FileManagement and Datastore.AllocateSpace"},
		{errors.New("403 Forbidden"), Denied, "needs the privilege Datastore.FileManagement and Datastore.AllocateSpace"},
		{errors.New("401 Unauthorized"), NoCredentials, "credentials were refused"},
		{taskErr(&types.NoDiskSpace{}), Quota, "the datastore is full"},
		{taskErr(&types.FileNotFound{}), NotFound, "check --datastore and --folder"},
	} {
		got := v.mapErr(tc.err, "upload x", "Datastore.FileManagement and Datastore.AllocateSpace")
		if !IsKind(got, tc.kind) || !strings.Contains(got.Error(), tc.want) {
			t.Errorf("%v: got %v, want %s containing %q", tc.err, got, tc.kind, tc.want)
		}
	}
}
