package push

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/keel-os/keel/packer/progress"
)

// VCenter pushes an image (an ISO from -format iso-bios or iso-efi, or any
// file a VM can boot from) into a folder of a vSphere datastore, through
// vCenter or a lone ESXi host, as `linuxkit push vcenter` does.
//
// A re-push is recognised by a small file NAME.sha256 beside the image
// holding its digest: a datastore's file listing gives size and time but no
// checksum, and reading the image back to hash it would cost a second
// transfer. The digest file is written only after the image, so an
// interrupted upload is never taken for a finished one.
type VCenter struct {
	// URL of the SDK: https://[USER[:PASSWORD]@]HOST[/sdk]; default:
	// GOVC_URL, else VCURL (LinuxKit's). The user and password not in it
	// come from GOVC_USERNAME and GOVC_PASSWORD.
	URL string
	// Datacenter; default: the only one.
	Datacenter string
	// Datastore; default: the only one in the datacenter.
	Datastore string
	// Host is an ESXi host (name or inventory path) to send the bytes
	// through instead of vCenter; default: vCenter itself.
	Host string
	// Folder in the datastore, created when missing (default "keel").
	Folder string
	// Name of the file in the folder; default: the image's file name.
	Name string
	// Replace overwrites a file of that name holding other bytes; without
	// it that is an error.
	Replace bool
	// Insecure skips the check of the server's TLS certificate.
	Insecure bool

	Progress progress.Reporter
	// Log receives a line per step; nil: nothing.
	Log io.Writer
}

// Push uploads the file at path into the datastore.
func (v *VCenter) Push(ctx context.Context, file string) (*Result, error) {
	name := v.Name
	if name == "" {
		name = filepath.Base(file)
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\[]") || len(name) > 255 {
		return nil, fmt.Errorf("vcenter: file name %q is not valid (1 to 255 characters, no / \\ [ ]): give --name", name)
	}
	folder := strings.Trim(v.Folder, "/")
	if folder == "" {
		folder = "keel"
	}
	if strings.Contains(folder, "..") || strings.ContainsAny(folder, "\\[]") {
		return nil, fmt.Errorf("vcenter: --folder %q is not valid: give a path in the datastore such as keel/images", v.Folder)
	}
	u, err := v.url()
	if err != nil {
		return nil, err
	}
	digest, size, err := fileDigest(file)
	if err != nil {
		return nil, fmt.Errorf("vcenter: %w", err)
	}

	c, err := govmomi.NewClient(ctx, u, v.Insecure)
	if err != nil {
		return nil, v.mapErr(err, "log in to "+u.Host, "")
	}
	defer func() {
		// Free the session even when ctx has run out, but not forever.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		c.Logout(lctx)
	}()
	f := find.NewFinder(c.Client, false)
	dc, err := f.DatacenterOrDefault(ctx, v.Datacenter)
	if err != nil {
		return nil, v.findErr(err, "datacenter", v.Datacenter, "--datacenter")
	}
	f.SetDatacenter(dc)
	ds, err := f.DatastoreOrDefault(ctx, v.Datastore)
	if err != nil {
		return nil, v.findErr(err, "datastore", v.Datastore, "--datastore")
	}
	if v.Host != "" {
		host, err := f.HostSystem(ctx, v.Host)
		if err != nil {
			return nil, v.findErr(err, "host", v.Host, "--hostname")
		}
		ctx = ds.HostContext(ctx, host)
	}
	target := path.Join(folder, name)
	sum := target + ".sha256"
	res := &Result{Provider: "vcenter", Name: name, ID: ds.Path(target), Digest: digest, Object: ds.NewURL(target).String()}

	if err := object.NewFileManager(c.Client).MakeDirectory(ctx, ds.Path(folder), dc, true); err != nil && !fault.Is(err, &types.FileAlreadyExists{}) {
		return nil, v.mapErr(err, "create folder "+ds.Path(folder), "Datastore.FileManagement")
	}
	info, err := ds.Stat(ctx, target)
	switch {
	case err == nil:
		if info.GetFileInfo().FileSize == size && v.storedDigest(ctx, ds, sum) == digest {
			v.logf("%s already holds %s\n", res.ID, digest)
			res.Reused = true
			return res, nil
		}
		if !v.Replace {
			return nil, &Error{Kind: Conflict, Msg: fmt.Sprintf("vcenter: %s already holds another file: give --replace to overwrite it, or another --name", res.ID)}
		}
		// Gone before the image is rewritten: a stale digest beside a
		// half-written image would pass it for finished.
		if err := v.remove(ctx, c, dc, ds, sum); err != nil {
			return nil, err
		}
	case errors.As(err, new(object.DatastoreNoSuchFileError)):
	default:
		return nil, v.mapErr(err, "look for "+res.ID, "Datastore.Browse")
	}

	if err := v.upload(ctx, ds, file, target, size); err != nil {
		return nil, err
	}
	d := []byte(digest + "\n")
	if err := ds.Upload(ctx, strings.NewReader(string(d)), sum, putParams(int64(len(d)))); err != nil {
		return nil, v.mapErr(err, "upload "+ds.Path(sum), "Datastore.FileManagement")
	}
	return res, nil
}

// url is the SDK URL with the credentials: the flag's, GOVC_URL or VCURL, the
// user and password in it or else GOVC_USERNAME and GOVC_PASSWORD.
func (v *VCenter) url() (*url.URL, error) {
	raw := v.URL
	if raw == "" {
		raw = os.Getenv("GOVC_URL")
	}
	if raw == "" {
		raw = os.Getenv("VCURL")
	}
	if raw == "" {
		return nil, &Error{Kind: NoCredentials, Msg: "vcenter: no URL: give --url https://HOST/sdk or set GOVC_URL"}
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := soap.ParseURL(raw)
	if err != nil || u == nil || u.Host == "" {
		return nil, fmt.Errorf("vcenter: --url %q is not a URL: give https://HOST/sdk", redact(raw))
	}
	user, pass := "", ""
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	if user == "" {
		user = os.Getenv("GOVC_USERNAME")
	}
	if pass == "" {
		pass = os.Getenv("GOVC_PASSWORD")
	}
	if user == "" || pass == "" {
		return nil, &Error{Kind: NoCredentials, Msg: "vcenter: no credentials: put USER:PASSWORD@ in the URL (GOVC_URL) or set GOVC_USERNAME and GOVC_PASSWORD"}
	}
	u.User = url.UserPassword(user, pass)
	return u, nil
}

// redact drops a password from a URL for an error message.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

// storedDigest reads the digest file beside an image; "" when there is
// none or it is not one.
func (v *VCenter) storedDigest(ctx context.Context, ds *object.Datastore, p string) string {
	r, _, err := ds.Download(ctx, p, nil)
	if err != nil {
		return ""
	}
	defer r.Close()
	b, _ := io.ReadAll(io.LimitReader(r, 128))
	return strings.TrimSpace(string(b))
}

func (v *VCenter) remove(ctx context.Context, c *govmomi.Client, dc *object.Datacenter, ds *object.Datastore, p string) error {
	task, err := object.NewFileManager(c.Client).DeleteDatastoreFile(ctx, ds.Path(p), dc)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil && !fault.Is(err, &types.FileNotFound{}) {
		return v.mapErr(err, "delete "+ds.Path(p), "Datastore.FileManagement")
	}
	return nil
}

func (v *VCenter) upload(ctx context.Context, ds *object.Datastore, file, target string, size int64) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("vcenter: %w", err)
	}
	defer f.Close()
	where := ds.Path(target)
	task := progress.Or(v.Progress).Start(progress.Upload, where, size)
	err = ds.Upload(ctx, &countingReader{r: f, task: task}, target, putParams(size))
	task.Done(err)
	if err != nil {
		return v.mapErr(err, "upload "+where, "Datastore.FileManagement and Datastore.AllocateSpace")
	}
	progress.Or(v.Progress).Step(progress.Step{Kind: progress.Upload, Name: where, Size: size})
	return nil
}

func (v *VCenter) logf(format string, args ...any) {
	if v.Log != nil {
		fmt.Fprintf(v.Log, format, args...)
	}
}

// findErr maps the inventory finder's errors: the flag to give names the
// thing that was not found or was ambiguous.
func (v *VCenter) findErr(err error, what, name, flag string) error {
	var nf *find.NotFoundError
	var dnf *find.DefaultNotFoundError
	var many *find.DefaultMultipleFoundError
	switch {
	case errors.As(err, &nf):
		return &Error{Kind: NotFound, Msg: fmt.Sprintf("vcenter: %s %q not found: check %s (govc ls lists the inventory)", what, name, flag), Err: err}
	case errors.As(err, &dnf):
		return &Error{Kind: NotFound, Msg: fmt.Sprintf("vcenter: no %s found (or none this user may see): give %s", what, flag), Err: err}
	case errors.As(err, &many):
		return &Error{Kind: NotFound, Msg: fmt.Sprintf("vcenter: more than one %s: give %s", what, flag), Err: err}
	}
	return v.mapErr(err, "find "+what+" "+name, "System.View")
}

// mapErr turns a vSphere fault or an HTTP error of the file transfer into
// one line; privilege is what the call needs.
func (v *VCenter) mapErr(err error, what, privilege string) error {
	var np *types.NoPermission
	if _, ok := fault.As(err, &np); ok {
		p := np.PrivilegeId
		if p == "" {
			p = privilege
		}
		return &Error{Kind: Denied, Msg: fmt.Sprintf("vcenter: %s: permission denied: the user needs the privilege %s on the datastore (a role with it, assigned on the datastore or its datacenter)", what, p), Err: err}
	}
	switch {
	case fault.Is(err, &types.InvalidLogin{}):
		return &Error{Kind: NoCredentials, Msg: fmt.Sprintf("vcenter: %s: the user name or password was refused: check the URL's USER:PASSWORD or GOVC_USERNAME and GOVC_PASSWORD", what), Err: err}
	case fault.Is(err, &types.NotAuthenticated{}):
		return &Error{Kind: NoCredentials, Msg: fmt.Sprintf("vcenter: %s: the session is not logged in: check the credentials", what), Err: err}
	case fault.Is(err, &types.FileNotFound{}), fault.Is(err, &types.InvalidDatastorePath{}):
		return &Error{Kind: NotFound, Msg: fmt.Sprintf("vcenter: %s: not found: check --datastore and --folder", what), Err: err}
	case fault.Is(err, &types.NoDiskSpace{}), fault.Is(err, &types.InsufficientStorageSpace{}):
		return &Error{Kind: Quota, Msg: fmt.Sprintf("vcenter: %s: the datastore is full: free space or give another --datastore", what), Err: err}
	}
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || strings.Contains(err.Error(), "x509:") {
		return fmt.Errorf("vcenter: %s: the server's TLS certificate is not trusted (%v): add its CA to the system's trust store, or give --insecure on a lab server you trust", what, oneLine(err.Error()))
	}
	// File transfers are plain HTTP: the status is all there is.
	if msg := err.Error(); strings.Contains(msg, "401 Unauthorized") {
		return &Error{Kind: NoCredentials, Msg: fmt.Sprintf("vcenter: %s: the credentials were refused (%s)", what, oneLine(msg)), Err: err}
	} else if strings.Contains(msg, "403 Forbidden") {
		return &Error{Kind: Denied, Msg: fmt.Sprintf("vcenter: %s: permission denied: the user needs the privilege %s on the datastore", what, privilege), Err: err}
	} else if strings.Contains(msg, "404 Not Found") {
		return &Error{Kind: NotFound, Msg: fmt.Sprintf("vcenter: %s: not found: check --datastore and --folder", what), Err: err}
	}
	return fmt.Errorf("vcenter: %s: %s", what, oneLine(err.Error()))
}

// putParams are the PUT of a file of size bytes: govmomi's defaults with
// the length set, so the server can refuse a file too big for the
// datastore before it is sent.
func putParams(size int64) *soap.Upload {
	p := soap.DefaultUpload
	p.ContentLength = size
	return &p
}
