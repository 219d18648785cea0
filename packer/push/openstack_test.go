package push

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeOpenStack speaks the Keystone v3 and Glance v2 shapes keel push
// openstack uses: a password token whose catalog lists the image service
// (on the same server, under /image), image list by name and owner,
// create, PUT file, GET (saving at the first look, then active or
// endAs) and DELETE. fail queues error answers by "METHOD path".
type fakeOpenStack struct {
	mu     sync.Mutex
	url    string
	calls  []string
	images map[string]map[string]any
	data   map[string][]byte
	looks  map[string]int
	fail   map[string][]fakeAnswer
	endAs  string
	create map[string]any // the last create body
	auth   map[string]any // the last token request
	tokens []string       // X-Auth-Token of each Glance call
}

func newFakeOpenStack() *fakeOpenStack {
	return &fakeOpenStack{images: map[string]map[string]any{}, data: map[string][]byte{}, looks: map[string]int{}, fail: map[string][]fakeAnswer{}}
}

func (f *fakeOpenStack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := r.URL.Path
	key := r.Method + " " + path
	f.calls = append(f.calls, key)
	if q := f.fail[key]; len(q) > 0 {
		f.fail[key] = q[1:]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(q[0].code)
		io.WriteString(w, q[0].body)
		return
	}
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	if strings.HasPrefix(path, "/image/") {
		f.tokens = append(f.tokens, r.Header.Get("X-Auth-Token"))
	}
	id := strings.TrimSuffix(strings.TrimPrefix(path, "/image/v2/images/"), "/file")
	switch {
	case r.Method == http.MethodPost && path == "/identity/v3/auth/tokens":
		json.NewDecoder(r.Body).Decode(&f.auth)
		w.Header().Set("X-Subject-Token", "tok-1")
		reply(201, map[string]any{"token": map[string]any{
			"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "methods": []string{"password"},
			"project": map[string]any{"id": "proj-1", "name": "demo", "domain": map[string]any{"id": "default"}},
			"catalog": []any{
				map[string]any{"type": "identity", "name": "keystone", "endpoints": []any{map[string]any{"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": f.url + "/identity/v3/"}}},
				map[string]any{"type": "image", "name": "glance", "endpoints": []any{map[string]any{"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": f.url + "/image/"}}},
			},
		}})
	case r.Method == http.MethodGet && path == "/image/":
		// Glance's version document, as gophercloud discovers it.
		reply(300, map[string]any{"versions": []any{map[string]any{"id": "v2.16", "status": "CURRENT", "links": []any{map[string]any{"rel": "self", "href": f.url + "/image/v2/"}}}}})
	case r.Method == http.MethodGet && path == "/image/v2/images":
		q := r.URL.Query()
		var list []any
		for _, img := range f.images {
			if img["name"] == q.Get("name") && img["owner"] == q.Get("owner") {
				list = append(list, img)
			}
		}
		reply(200, map[string]any{"images": list, "schema": "/v2/schemas/images"})
	case r.Method == http.MethodPost && path == "/image/v2/images":
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		f.create = body
		img := map[string]any{"id": fmt.Sprintf("img-%d", len(f.images)+1), "status": "queued", "owner": "proj-1",
			"created_at": "2026-12-07T00:00:00Z", "updated_at": "2026-12-07T00:00:00Z"}
		for k, v := range body {
			img[k] = v
		}
		img["file"] = "/v2/images/" + img["id"].(string) + "/file"
		f.images[img["id"].(string)] = img
		reply(201, img)
	case r.Method == http.MethodPut && strings.HasSuffix(path, "/file"):
		img, ok := f.images[id]
		if !ok || r.Header.Get("Content-Type") != "application/octet-stream" {
			reply(400, map[string]any{"message": "bad upload"})
			return
		}
		f.data[id], _ = io.ReadAll(r.Body)
		img["status"] = "saving"
		w.WriteHeader(204)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/image/v2/images/"):
		img, ok := f.images[id]
		if !ok {
			reply(404, map[string]any{"message": "no image"})
			return
		}
		f.looks[id]++
		if f.looks[id] > 1 && img["status"] == "saving" {
			img["status"] = "active"
			if f.endAs != "" {
				img["status"] = f.endAs
			}
		}
		reply(200, img)
	case r.Method == http.MethodDelete && strings.HasPrefix(path, "/image/v2/images/"):
		delete(f.images, id)
		w.WriteHeader(204)
	default:
		reply(400, map[string]any{"message": "unexpected call " + key})
	}
}

// openstackTestEnv starts the fake cloud and sets the OS_* variables of an
// openrc file for it, with no clouds.yaml in the way.
func openstackTestEnv(t *testing.T) *fakeOpenStack {
	t.Helper()
	f := newFakeOpenStack()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	for k, v := range map[string]string{
		"OS_AUTH_URL": srv.URL + "/identity/v3", "OS_USERNAME": "demo", "OS_PASSWORD": "secret",
		"OS_PROJECT_NAME": "demo", "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
		"OS_REGION_NAME": "RegionOne", "OS_CLOUD": "", "OS_CLIENT_CONFIG_FILE": "",
		"OS_PROJECT_ID": "", "OS_TENANT_ID": "", "OS_TENANT_NAME": "", "OS_DOMAIN_ID": "", "OS_DOMAIN_NAME": "", "OS_USER_ID": "", "OS_USERID": "",
		"OS_APPLICATION_CREDENTIAL_ID": "", "OS_APPLICATION_CREDENTIAL_NAME": "", "OS_APPLICATION_CREDENTIAL_SECRET": "", "OS_SYSTEM_SCOPE": "", "OS_TOKEN": "", "OS_AUTH_TOKEN": "",
	} {
		t.Setenv(k, v)
	}
	return f
}

// writeQcow2 is a qcow2 (version 2, 64 KiB clusters) of a disk of size
// bytes whose first cluster is first: the rest reads as zeros.
func writeQcow2(t *testing.T, name string, first []byte, size uint64) string {
	t.Helper()
	const cs = 1 << 16
	f := make([]byte, 4*cs)
	copy(f, qcow2Magic)
	binary.BigEndian.PutUint32(f[4:], 2)
	binary.BigEndian.PutUint32(f[20:], 16)
	binary.BigEndian.PutUint64(f[24:], size)
	binary.BigEndian.PutUint32(f[36:], 1)
	binary.BigEndian.PutUint64(f[40:], cs)           // L1 table in cluster 1
	binary.BigEndian.PutUint64(f[cs:], 1<<63|2*cs)   // -> L2 table in cluster 2
	binary.BigEndian.PutUint64(f[2*cs:], 1<<63|3*cs) // guest cluster 0 -> cluster 3
	copy(f[3*cs:], first[:cs])
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, f, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDiskImage(t *testing.T) {
	bios, efi := testDisk(t, BIOS, 1<<17), testDisk(t, UEFI, 1<<17)
	compressed := writeQcow2(t, "c.qcow2", bios, 1<<20)
	b, _ := os.ReadFile(compressed)
	binary.BigEndian.PutUint64(b[2<<16:], 1<<62|3<<16)
	os.WriteFile(compressed, b, 0o644)
	backed := writeQcow2(t, "b.qcow2", bios, 1<<20)
	b, _ = os.ReadFile(backed)
	binary.BigEndian.PutUint64(b[8:], 512)
	os.WriteFile(backed, b, 0o644)
	for _, tt := range []struct {
		name, path, format string
		mode               BootMode
		want               string
	}{
		{"qcow2 bios", writeQcow2(t, "a.qcow2", bios, 1<<20), "qcow2", BIOS, ""},
		{"qcow2 efi", writeQcow2(t, "a.qcow2", efi, 1<<20), "qcow2", UEFI, ""},
		{"raw efi", writeRaw(t, efi), "raw", UEFI, ""},
		{"fixed vhd", writeVHD(t, "sys.vhd", testDisk(t, BIOS, mib)), "vhd", BIOS, ""},
		{"compressed qcow2", compressed, "", "", "compressed"},
		{"backing file", backed, "", "", "backing file"},
		{"not a disk", writeRaw(t, make([]byte, 1<<16)), "", "", "no partition table"},
	} {
		format, mode, err := diskImage(tt.path)
		if tt.want != "" {
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
			}
			continue
		}
		if err != nil || format != tt.format || mode != tt.mode {
			t.Errorf("%s: got %s, %s, %v; want %s, %s", tt.name, format, mode, err, tt.format, tt.mode)
		}
	}
}

// TestDiskImageOfQemuImg reads the qcow2 qemu-img makes (Keel's
// qcow2-bios and qcow2-efi), with small clusters so the partition table
// spans several.
func TestDiskImageOfQemuImg(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("needs qemu-img (Debian's qemu-utils)")
	}
	for _, mode := range []BootMode{BIOS, UEFI} {
		raw := writeRaw(t, testDisk(t, mode, 2*mib))
		out := filepath.Join(t.TempDir(), "sys.qcow2")
		if b, err := exec.Command("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", raw, out).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img: %v: %s", err, b)
		}
		if format, got, err := diskImage(out); err != nil || format != "qcow2" || got != mode {
			t.Errorf("%s: got %s, %s, %v; want qcow2, %s", mode, format, got, err, mode)
		}
	}
}

func TestOpenStackPush(t *testing.T) {
	const token = "POST /identity/v3/auth/tokens"
	const list = "GET /image/v2/images"
	const versions = "GET /image/"
	created := []string{token, versions, list, "POST /image/v2/images", "PUT /image/v2/images/img-1/file", "GET /image/v2/images/img-1", "GET /image/v2/images/img-1"}
	glanceErr := func(code int, title, msg string) fakeAnswer {
		return fakeAnswer{code, fmt.Sprintf("<html>\n <head>\n  <title>%d %s</title>\n </head>\n <body>\n  <h1>%d %s</h1>\n  %s<br /><br />\n\n\n\n </body>\n</html>", code, title, code, title, msg)}
	}
	tests := []struct {
		name      string
		qcow2     bool
		mode      BootMode
		existing  string // keel_digest of an image already of that name; "same" for this file's
		replace   bool
		fail      map[string][]fakeAnswer
		endAs     string
		wantCalls []string
		reused    bool
		wantErr   ErrKind
		wantMsg   string
	}{
		{name: "qcow2 bios", qcow2: true, mode: BIOS, wantCalls: created},
		{name: "raw uefi", mode: UEFI, wantCalls: created},
		{name: "same name, same digest: reused", mode: BIOS, existing: "same", reused: true, wantCalls: []string{token, versions, list}},
		{name: "same name, other contents: conflict", mode: BIOS, existing: "sha256:00", wantCalls: []string{token, versions, list}, wantErr: Conflict, wantMsg: "give --replace"},
		{
			name: "replace deletes once the new one is active", mode: BIOS, existing: "sha256:00", replace: true,
			wantCalls: []string{token, versions, list, "POST /image/v2/images", "PUT /image/v2/images/img-2/file", "GET /image/v2/images/img-2", "GET /image/v2/images/img-2", "DELETE /image/v2/images/old"},
		},
		{
			name: "403 names the policy", mode: BIOS,
			fail:      map[string][]fakeAnswer{"POST /image/v2/images": {glanceErr(403, "Forbidden", "You are not authorized to complete add_image action.")}},
			wantCalls: []string{token, versions, list, "POST /image/v2/images"}, wantErr: Denied, wantMsg: "Glance's policy add_image",
		},
		{
			name: "a quota at upload; the empty image goes", mode: BIOS,
			fail:      map[string][]fakeAnswer{"PUT /image/v2/images/img-1/file": {glanceErr(413, "Request Entity Too Large", "Denying attempt to upload image because it exceeds the quota: The size of the data 5242880 will exceed the limit.")}},
			wantCalls: []string{token, versions, list, "POST /image/v2/images", "PUT /image/v2/images/img-1/file", "DELETE /image/v2/images/img-1"}, wantErr: Quota, wantMsg: "image_size_total",
		},
		{
			name: "409 conflict", mode: BIOS,
			fail:      map[string][]fakeAnswer{"POST /image/v2/images": {glanceErr(409, "Conflict", "Image with identifier img-1 already exists!")}},
			wantCalls: []string{token, versions, list, "POST /image/v2/images"}, wantErr: Conflict, wantMsg: "already exists!",
		},
		{
			name: "refused credentials", mode: BIOS,
			fail:      map[string][]fakeAnswer{token: {{401, `{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`}}},
			wantCalls: []string{token}, wantErr: NoCredentials, wantMsg: "requires authentication",
		},
		{name: "killed after the upload", mode: BIOS, endAs: "killed", wantCalls: created, wantMsg: "ended killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := openstackTestEnv(t)
			disk := testDisk(t, tt.mode, 1<<17)
			path := writeRaw(t, disk)
			if tt.qcow2 {
				path = writeQcow2(t, "sys.qcow2", disk, 1<<20)
			}
			data, _ := os.ReadFile(path)
			digest := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
			if tt.existing != "" {
				d := tt.existing
				if d == "same" {
					d = digest
				}
				f.images["old"] = map[string]any{"id": "old", "name": "sys", "status": "active", "owner": "proj-1", "keel_digest": d,
					"file": "/v2/images/old/file", "created_at": "2026-12-06T00:00:00Z", "updated_at": "2026-12-06T00:00:00Z"}
			}
			for k, v := range tt.fail {
				f.fail[k] = v
			}
			f.endAs = tt.endAs
			rep := &countingReporter{}
			o := &OpenStack{Replace: tt.replace, Progress: rep, PollInterval: time.Millisecond}
			res, err := o.Push(context.Background(), path)
			if !slices.Equal(f.calls, tt.wantCalls) {
				t.Errorf("got calls %q, want %q", f.calls, tt.wantCalls)
			}
			for _, tok := range f.tokens {
				if tok != "tok-1" {
					t.Errorf("got X-Auth-Token %q, want Keystone's token", tok)
				}
			}
			if tt.wantMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantMsg) || strings.Contains(err.Error(), "\n") || tt.wantErr != "" && !IsKind(err, tt.wantErr) {
					t.Fatalf("got error %v, want one line (a %s error) containing %q", err, tt.wantErr, tt.wantMsg)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantID := map[bool]string{true: "old", false: "img-1"}[tt.reused]
			if tt.replace {
				wantID = "img-2"
			}
			if res.ID != wantID || res.Digest != digest || res.Name != "sys" || res.BootMode != string(tt.mode) || res.Reused != tt.reused {
				t.Errorf("got result %+v, want ID %s, name sys, digest %s, boot mode %s, reused %v", res, wantID, digest, tt.mode, tt.reused)
			}
			if tt.reused {
				return
			}
			if !bytes.Equal(f.data[wantID], data) {
				t.Errorf("got %d bytes uploaded, want the file's %d", len(f.data[wantID]), len(data))
			}
			if rep.bytes != int64(len(data)) || !rep.done {
				t.Errorf("got progress %d bytes (done %v), want %d, done", rep.bytes, rep.done, len(data))
			}
			want := map[string]any{"name": "sys", "container_format": "bare", "disk_format": map[bool]string{true: "qcow2", false: "raw"}[tt.qcow2],
				"visibility": "private", "os_type": "linux", "architecture": "x86_64", "keel_digest": digest}
			if tt.mode == UEFI {
				want["hw_firmware_type"] = "uefi"
			}
			gj, _ := json.Marshal(f.create)
			wj, _ := json.Marshal(want)
			if !bytes.Equal(gj, wj) {
				t.Errorf("got image create %s, want %s", gj, wj)
			}
			ident := f.auth["auth"].(map[string]any)["identity"].(map[string]any)
			if pw := ident["password"].(map[string]any)["user"].(map[string]any); pw["name"] != "demo" || pw["password"] != "secret" {
				t.Errorf("got token request %v, want user demo's password from OS_*", ident)
			}
		})
	}
}

// TestOpenStackCredentials: no OS_* at all is one line saying what to
// source; OS_CLOUD reads clouds.yaml.
func TestOpenStackCredentials(t *testing.T) {
	f := openstackTestEnv(t)
	path := writeRaw(t, testDisk(t, BIOS, 1<<16))
	t.Setenv("OS_AUTH_URL", "")
	_, err := (&OpenStack{}).Push(context.Background(), path)
	if !IsKind(err, NoCredentials) || !strings.Contains(err.Error(), "openrc") || len(f.calls) != 0 {
		t.Errorf("no OS_*: got %v after %q, want a no-credentials error naming openrc and no calls", err, f.calls)
	}
	clouds := filepath.Join(t.TempDir(), "clouds.yaml")
	os.WriteFile(clouds, []byte(fmt.Sprintf("clouds:\n  test:\n    auth:\n      auth_url: %s/identity/v3\n      username: demo\n      password: secret\n      project_name: demo\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n", f.url)), 0o644)
	t.Setenv("OS_CLIENT_CONFIG_FILE", clouds)
	t.Setenv("OS_CLOUD", "test")
	for _, k := range []string{"OS_USERNAME", "OS_PASSWORD", "OS_REGION_NAME"} {
		t.Setenv(k, "")
	}
	res, err := (&OpenStack{PollInterval: time.Millisecond}).Push(context.Background(), path)
	if err != nil || res.ID != "img-1" {
		t.Errorf("OS_CLOUD: got %+v, %v, want image img-1", res, err)
	}
	t.Setenv("OS_CLOUD", "other")
	if _, err := (&OpenStack{}).Push(context.Background(), path); !IsKind(err, NoCredentials) || !strings.Contains(err.Error(), "clouds.yaml") {
		t.Errorf("OS_CLOUD of no cloud: got %v, want a no-credentials error naming clouds.yaml", err)
	}
	t.Setenv("OS_CLOUD", "test")
	if _, err := (&OpenStack{Region: "Elsewhere"}).Push(context.Background(), path); !IsKind(err, NotFound) || !strings.Contains(err.Error(), "no image service") {
		t.Errorf("a region without Glance: got %v, want a not-found error naming the image service", err)
	}
}

// TestOpenStackReal pushes to a real cloud, only when a maintainer names
// an image file (docs/clouds.md); it deletes the image it made.
func TestOpenStackReal(t *testing.T) {
	image := os.Getenv("KEEL_TEST_OPENSTACK_IMAGE")
	if image == "" {
		t.Skip("talks to OpenStack: set KEEL_TEST_OPENSTACK_IMAGE (a -format qcow2-bios file), with OS_CLOUD or an openrc's OS_* variables, to run it")
	}
	ctx := context.Background()
	o := &OpenStack{Name: fmt.Sprintf("keel-test-%d", time.Now().Unix()), Log: testLog{t}}
	res, err := o.Push(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pushed %+v", res)
	if again, err := o.Push(ctx, image); err != nil || !again.Reused {
		t.Errorf("second push: got %+v, %v, want the image reused", again, err)
	}
	if err := o.DeleteImage(ctx, res.ID); err != nil {
		t.Errorf("clean up: %v (delete image %s by hand)", err, res.ID)
	}
}
