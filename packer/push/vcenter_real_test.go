package push

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
)

// TestVCenterReal pushes to a real vCenter or ESXi host, only when a
// maintainer names the image: KEEL_TEST_VCENTER_IMAGE, with GOVC_URL,
// GOVC_USERNAME, GOVC_PASSWORD and GOVC_DATASTORE (GOVC_INSECURE=1 for a
// self-signed certificate). It uploads keel-test/keel-test-UNIXTIME.iso,
// pushes it again to check the re-push sends nothing, then deletes both
// files.
func TestVCenterReal(t *testing.T) {
	img := os.Getenv("KEEL_TEST_VCENTER_IMAGE")
	if img == "" {
		t.Skip("KEEL_TEST_VCENTER_IMAGE is not set: no real vCenter push (see docs/clouds.md)")
	}
	ctx := context.Background()
	v := &VCenter{
		Datacenter: os.Getenv("GOVC_DATACENTER"),
		Datastore:  os.Getenv("GOVC_DATASTORE"),
		Folder:     "keel-test",
		Name:       fmt.Sprintf("keel-test-%d.iso", time.Now().Unix()),
		Insecure:   os.Getenv("GOVC_INSECURE") == "1",
	}
	res, err := v.Push(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		u, err := v.url()
		if err != nil {
			t.Error(err)
			return
		}
		if err := removeReal(ctx, u, v, []string{"keel-test/" + v.Name, "keel-test/" + v.Name + ".sha256"}); err != nil {
			t.Errorf("clean up %s: %v", res.ID, err)
		}
	})
	again, err := v.Push(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Reused || again.Digest != res.Digest {
		t.Errorf("re-push: got %+v, want the same digest, reused", again)
	}
}

func removeReal(ctx context.Context, u *url.URL, v *VCenter, files []string) error {
	c, err := govmomi.NewClient(ctx, u, v.Insecure)
	if err != nil {
		return err
	}
	defer c.Logout(ctx)
	f := find.NewFinder(c.Client, false)
	dc, err := f.DatacenterOrDefault(ctx, v.Datacenter)
	if err != nil {
		return err
	}
	f.SetDatacenter(dc)
	ds, err := f.DatastoreOrDefault(ctx, v.Datastore)
	if err != nil {
		return err
	}
	fm := object.NewFileManager(c.Client)
	for _, p := range files {
		task, err := fm.DeleteDatastoreFile(ctx, ds.Path(p), dc)
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
