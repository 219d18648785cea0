package build

import (
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestBuildContainerIDs: uid and gid may name a container (LinuxKit's
// allocated ids, from 100 through onboot, onshutdown, services) in image
// entries and files; other names come from the image's /etc/passwd.
func TestBuildContainerIDs(t *testing.T) {
	f := newFixture(t, "")
	www := treeImage(t, map[string]string{"/bin/svc": "svc", "/etc/passwd": "root:x:0:0::/:/bin/sh\nwww:x:33:33::/:/bin/sh\n", "/etc/group": "www:x:34:\n"},
		v1.Config{Entrypoint: []string{"/bin/svc"}})
	if err := f.cache.Put("test/www:1", www); err != nil {
		t.Fatal(err)
	}
	f.spec = strings.Replace(f.spec, "files:\n", `  - name: web
    image: test/www:1
    uid: www
    gid: www
  - name: redis
    image: test/svc:1
    uid: redis
    gid: first
files:
  - path: etc/redis.conf
    contents: "x"
    uid: redis
    gid: svc
`, 1)
	res, err := f.run(t, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	files := readInitrd(t, res.Initrd)
	user := func(name string) specs.User {
		e := files["containers/services/"+name+"/config.json"]
		if e == nil {
			t.Fatalf("no config.json for %s", name)
		}
		var s specs.Spec
		if err := json.Unmarshal(e.data, &s); err != nil {
			t.Fatal(err)
		}
		return s.Process.User
	}
	// first=100 (onboot), svc=101, web=102, redis=103.
	if u := user("redis"); u.UID != 103 || u.GID != 100 {
		t.Errorf("redis runs as %d:%d, want 103:100", u.UID, u.GID)
	}
	if u := user("web"); u.UID != 33 || u.GID != 34 {
		t.Errorf("web runs as %d:%d, want 33:34 from its image's /etc/passwd and /etc/group", u.UID, u.GID)
	}
	if c := files["etc/redis.conf"]; c == nil || c.hdr.Uid != 103 || c.hdr.Guid != 101 {
		t.Errorf("etc/redis.conf = %+v, want owner 103:101", c)
	}

	f.spec += "  - path: etc/bad\n    contents: x\n    uid: nosuch\n"
	_, err = f.run(t, t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), `uid "nosuch": no container has that name (containers: first, redis, svc, web)`) || !strings.Contains(err.Error(), "sys.yml:") {
		t.Errorf("unknown file uid: got %v, want an error naming the file position and the containers", err)
	}
}
