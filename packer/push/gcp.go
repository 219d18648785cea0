package push

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	compute "google.golang.org/api/compute/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/keel-os/keel/packer/progress"
)

// GCPSuffix ends the name of Keel's gcp format (docs/formats.md).
const GCPSuffix = ".img.tar.gz"

// GCP pushes a gcp image (-format gcp) to Google Cloud: the file goes to a
// Cloud Storage bucket by a resumable upload, then Compute Engine makes an
// image of it (images.insert). Credentials are Application Default
// Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's login, or the
// workload's service account).
type GCP struct {
	Project string
	Bucket  string
	// Name of the image and of the object (NAME.img.tar.gz); default: the
	// file's name without .img.tar.gz.
	Name   string
	Family string
	// Replace deletes an image of the same name first; without it a name
	// taken by another image is an error.
	Replace bool
	// NestedVirt lets instances of the image run VMs (the enable-vmx
	// license), as LinuxKit's -nested-virt.
	NestedVirt bool
	// SecureBootCert is a PEM certificate (the one the image's UKI was
	// signed with: keel build --sign-cert) to put in the image's Secure
	// Boot db, marking the image SECURE_BOOT: Compute Engine's default
	// keys are Microsoft's, which do not trust Keel's signature.
	SecureBootCert string

	Progress progress.Reporter
	// Log receives a line per step; nil: nothing.
	Log io.Writer

	// StorageOptions and ComputeOptions reach the SDK clients: tests point
	// them at local servers (STORAGE_EMULATOR_HOST works too).
	StorageOptions []option.ClientOption
	ComputeOptions []option.ClientOption
	// ChunkSize of the resumable upload (default 16 MiB); a failed chunk is
	// sent again, not the whole file.
	ChunkSize int
	// RetryDelay is the first wait before retrying a Compute call that
	// failed with 429 or 5xx (default 1 s, doubling); PollInterval the wait
	// between polls of an operation that is not done (default 2 s).
	RetryDelay, PollInterval time.Duration
}

// gcpName is a Compute Engine resource name.
var gcpName = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

// enableVMX is the license that allows nested virtualization.
const enableVMX = "https://www.googleapis.com/compute/v1/projects/vm-options/global/licenses/enable-vmx"

// Push uploads the gcp image at path and creates the Compute Engine image.
func (g *GCP) Push(ctx context.Context, path string) (*Result, error) {
	if g.Project == "" {
		return nil, errors.New("gcp: no project: give --project or set GOOGLE_CLOUD_PROJECT")
	}
	if g.Bucket == "" {
		return nil, errors.New("gcp: no bucket: give --bucket, a Cloud Storage bucket the image is uploaded to")
	}
	name := g.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(path), GCPSuffix)
	}
	if !gcpName.MatchString(name) {
		return nil, fmt.Errorf("gcp: image name %q is not valid on Compute Engine (lowercase letters, digits and -, starting with a letter, at most 63): give --name", name)
	}
	if g.Family != "" && !gcpName.MatchString(g.Family) {
		return nil, fmt.Errorf("gcp: --family %q is not a valid name (lowercase letters, digits and -, starting with a letter, at most 63)", g.Family)
	}
	mode, err := gcpBootMode(path)
	if err != nil {
		return nil, fmt.Errorf("gcp: %w", err)
	}
	img := &compute.Image{Name: name, Family: g.Family}
	if mode == UEFI {
		img.GuestOsFeatures = append(img.GuestOsFeatures, &compute.GuestOsFeature{Type: "UEFI_COMPATIBLE"})
	}
	if g.SecureBootCert != "" {
		if mode != UEFI {
			return nil, fmt.Errorf("gcp: --secure-boot-cert needs a UEFI image (built from raw-efi); %s boots with BIOS", path)
		}
		db, err := certBuffer(g.SecureBootCert)
		if err != nil {
			return nil, fmt.Errorf("gcp: --secure-boot-cert: %w", err)
		}
		img.GuestOsFeatures = append(img.GuestOsFeatures, &compute.GuestOsFeature{Type: "SECURE_BOOT"})
		img.ShieldedInstanceInitialState = &compute.InitialStateConfig{Dbs: []*compute.FileContentBuffer{db}}
	}
	if g.NestedVirt {
		img.Licenses = []string{enableVMX}
	}
	digest, size, err := fileDigest(path)
	if err != nil {
		return nil, fmt.Errorf("gcp: %w", err)
	}
	img.Description = description(digest)
	object := name + GCPSuffix
	img.RawDisk = &compute.ImageRawDisk{Source: "https://storage.googleapis.com/" + g.Bucket + "/" + object}
	res := &Result{Provider: "gcp", Name: name, Digest: digest, Object: "gs://" + g.Bucket + "/" + object, BootMode: string(mode)}

	svc, err := compute.NewService(ctx, g.ComputeOptions...)
	if err != nil {
		return nil, g.mapErr(err, "connect to Compute Engine", "")
	}
	old, err := g.getImage(ctx, svc, name)
	if err != nil {
		return nil, err
	}
	if old != nil {
		switch {
		case old.Description == img.Description && !g.Replace:
			g.logf("image %s already holds %s: nothing to push\n", name, digest)
			res.ID, res.Reused = old.SelfLink, true
			return res, nil
		case !g.Replace:
			return nil, &Error{Kind: Conflict, Msg: fmt.Sprintf("gcp: image %s already exists in project %s with other contents: give --replace to delete and recreate it, or another --name", name, g.Project)}
		}
	}

	if err := g.upload(ctx, path, object, digest, size); err != nil {
		return nil, err
	}
	if old != nil {
		g.logf("deleting image %s (--replace)\n", name)
		if err := g.do(ctx, svc, "delete image "+name, "compute.images.delete", func(id string) (*compute.Operation, error) {
			return svc.Images.Delete(g.Project, name).RequestId(id).Context(ctx).Do()
		}); err != nil {
			return nil, err
		}
	}
	g.logf("creating image %s (%s)\n", name, mode)
	if err := g.do(ctx, svc, "create image "+name, "compute.images.create", func(id string) (*compute.Operation, error) {
		return svc.Images.Insert(g.Project, img).RequestId(id).Context(ctx).Do()
	}); err != nil {
		return nil, err
	}
	made, err := g.getImage(ctx, svc, name)
	if err != nil {
		return nil, err
	}
	if made == nil {
		return nil, fmt.Errorf("gcp: image %s was created but cannot be found", name)
	}
	res.ID = made.SelfLink
	return res, nil
}

func (g *GCP) logf(format string, args ...any) {
	if g.Log != nil {
		fmt.Fprintf(g.Log, format, args...)
	}
}

// upload sends the file to the bucket with a resumable upload: each chunk
// is retried on its own, so a lost connection costs one chunk.
func (g *GCP) upload(ctx context.Context, path, object, digest string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("gcp: %w", err)
	}
	defer f.Close()
	client, err := storage.NewClient(ctx, g.StorageOptions...)
	if err != nil {
		return g.mapErr(err, "connect to Cloud Storage", "")
	}
	defer client.Close()
	task := progress.Or(g.Progress).Start(progress.Upload, "gs://"+g.Bucket+"/"+object, size)
	w := client.Bucket(g.Bucket).Object(object).NewWriter(ctx)
	w.ChunkSize = g.ChunkSize
	if w.ChunkSize == 0 {
		w.ChunkSize = 16 << 20
	}
	w.ContentType = "application/gzip"
	w.Metadata = map[string]string{"keel-digest": digest}
	_, err = io.Copy(w, &countingReader{r: f, task: task})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	task.Done(err)
	if err != nil {
		var ae *googleapi.Error
		if errors.Is(err, storage.ErrBucketNotExist) || errors.As(err, &ae) && ae.Code == http.StatusNotFound {
			return &Error{Kind: NotFound, Msg: fmt.Sprintf("gcp: bucket %s does not exist: create it (gcloud storage buckets create gs://%s --project %s) or give another --bucket", g.Bucket, g.Bucket, g.Project), Err: err}
		}
		return g.mapErr(err, "upload to gs://"+g.Bucket, "storage.objects.create on bucket "+g.Bucket+" (roles/storage.objectUser)")
	}
	progress.Or(g.Progress).Step(progress.Step{Kind: progress.Upload, Name: "gs://" + g.Bucket + "/" + object, Size: size})
	return nil
}

// getImage returns the image of that name, or nil when there is none.
func (g *GCP) getImage(ctx context.Context, svc *compute.Service, name string) (*compute.Image, error) {
	var img *compute.Image
	err := g.retry(ctx, func() error {
		var err error
		img, err = svc.Images.Get(g.Project, name).Context(ctx).Do()
		return err
	})
	var ae *googleapi.Error
	if errors.As(err, &ae) && ae.Code == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, g.mapErr(err, "read image "+name, "compute.images.get")
	}
	return img, nil
}

// do runs a Compute call that starts an operation and waits for the
// operation's end. The call carries one request ID through its retries,
// so a retry of a call that did reach Compute Engine is not done twice.
func (g *GCP) do(ctx context.Context, svc *compute.Service, what, perm string, call func(requestID string) (*compute.Operation, error)) error {
	id := requestID()
	var op *compute.Operation
	err := g.retry(ctx, func() error {
		var err error
		op, err = call(id)
		return err
	})
	if err != nil {
		return g.mapErr(err, what, perm)
	}
	poll := g.PollInterval
	if poll == 0 {
		poll = 2 * time.Second
	}
	for op.Status != "DONE" {
		// Wait returns when the operation is done or after about two
		// minutes; the loop covers longer imports.
		name := op.Name
		err := g.retry(ctx, func() error {
			var err error
			op, err = svc.GlobalOperations.Wait(g.Project, name).Context(ctx).Do()
			return err
		})
		if err != nil {
			return g.mapErr(err, what+": wait for operation "+name, "compute.globalOperations.get")
		}
		if op.Status != "DONE" {
			select {
			case <-ctx.Done():
				return fmt.Errorf("gcp: %s: %w", what, ctx.Err())
			case <-time.After(poll):
			}
		}
	}
	if op.Error != nil && len(op.Error.Errors) > 0 {
		return g.opErr(op.Error.Errors[0], what, perm)
	}
	return nil
}

// retry calls f again while it fails with 429 or a 5xx, four times at
// most, the wait doubling from RetryDelay.
func (g *GCP) retry(ctx context.Context, f func() error) error {
	delay := g.RetryDelay
	if delay == 0 {
		delay = time.Second
	}
	for attempt := 0; ; attempt++ {
		err := f()
		var ae *googleapi.Error
		if err == nil || attempt == 4 || !errors.As(err, &ae) || (ae.Code != http.StatusTooManyRequests && ae.Code < 500) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay << attempt):
		}
	}
}

// mapErr turns an SDK error into one line naming what to fix.
func (g *GCP) mapErr(err error, what, perm string) error {
	if strings.Contains(err.Error(), "could not find default credentials") {
		return &Error{Kind: NoCredentials, Msg: "gcp: no credentials: run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, or run where a service account is attached", Err: err}
	}
	var ae *googleapi.Error
	if !errors.As(err, &ae) {
		return fmt.Errorf("gcp: %s: %w", what, err)
	}
	msg := oneLine(ae.Message)
	reason := ""
	if len(ae.Errors) > 0 {
		reason = ae.Errors[0].Reason
	}
	switch {
	case ae.Code == http.StatusUnauthorized:
		return &Error{Kind: NoCredentials, Msg: fmt.Sprintf("gcp: %s: the credentials were refused (%s): renew them with `gcloud auth application-default login` or check GOOGLE_APPLICATION_CREDENTIALS", what, msg), Err: err}
	case ae.Code == http.StatusTooManyRequests || strings.Contains(strings.ToLower(reason), "quota") || strings.Contains(reason, "RateLimit"):
		return &Error{Kind: Quota, Msg: fmt.Sprintf("gcp: %s: quota exceeded in project %s (%s): raise it under IAM & Admin > Quotas or try later", what, g.Project, msg), Err: err}
	case ae.Code == http.StatusForbidden:
		need := "the permission for it"
		if perm != "" {
			need = perm
		}
		return &Error{Kind: Denied, Msg: fmt.Sprintf("gcp: %s: permission denied in project %s: the credentials need %s (%s)", what, g.Project, need, msg), Err: err}
	case ae.Code == http.StatusConflict:
		return &Error{Kind: Conflict, Msg: fmt.Sprintf("gcp: %s: the name is taken in project %s (%s): give --replace or another --name", what, g.Project, msg), Err: err}
	case ae.Code == http.StatusNotFound:
		return &Error{Kind: NotFound, Msg: fmt.Sprintf("gcp: %s: not found (%s): check --project %s", what, msg, g.Project), Err: err}
	}
	return fmt.Errorf("gcp: %s: HTTP %d: %s", what, ae.Code, msg)
}

// opErr maps the first error of a failed operation.
func (g *GCP) opErr(e *compute.OperationErrorErrors, what, perm string) error {
	msg := oneLine(e.Message)
	switch {
	case strings.Contains(e.Code, "QUOTA"):
		return &Error{Kind: Quota, Msg: fmt.Sprintf("gcp: %s: quota exceeded in project %s (%s): raise it under IAM & Admin > Quotas", what, g.Project, msg)}
	case e.Code == "RESOURCE_ALREADY_EXISTS" || e.Code == "ALREADY_EXISTS":
		return &Error{Kind: Conflict, Msg: fmt.Sprintf("gcp: %s: the name is taken in project %s: give --replace or another --name", what, g.Project)}
	case strings.Contains(e.Code, "PERMISSION") || strings.Contains(e.Code, "FORBIDDEN"):
		return &Error{Kind: Denied, Msg: fmt.Sprintf("gcp: %s: permission denied in project %s: the credentials need %s, and Compute Engine must be able to read the object (storage.objects.get) (%s)", what, g.Project, perm, msg)}
	}
	return fmt.Errorf("gcp: %s: %s: %s", what, e.Code, msg)
}

// certBuffer reads a PEM certificate into the form of a Secure Boot db
// entry: DER, base64.
func certBuffer(path string) (*compute.FileContentBuffer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM CERTIFICATE block", path)
	}
	return &compute.FileContentBuffer{Content: base64.StdEncoding.EncodeToString(b.Bytes), FileType: "X509"}, nil
}

// requestID is a random UUID (version 4), what Compute Engine takes as a
// requestId to make a retried call idempotent.
func requestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// GCPError maps an error of a Compute Engine call in project to one line
// naming what to fix, as Push does (an *Error where a user can fix it);
// perm is the IAM permission the call needs. keel run gcp shares it.
func GCPError(project string, err error, what, perm string) error {
	return (&GCP{Project: project}).mapErr(err, what, perm)
}

// GCPOperationError maps the first error of a failed Compute Engine
// operation in project, as GCPError does.
func GCPOperationError(project string, e *compute.OperationErrorErrors, what, perm string) error {
	return (&GCP{Project: project}).opErr(e, what, perm)
}

// GCPRetry calls f again while it fails with 429 or a 5xx, as Push's
// calls are, the wait doubling from delay (default 1 s).
func GCPRetry(ctx context.Context, delay time.Duration, f func() error) error {
	return (&GCP{RetryDelay: delay}).retry(ctx, f)
}

// GCPRequestID is a fresh requestId for a Compute Engine call: retries of
// the call carry the same one so that they are not done twice.
func GCPRequestID() string { return requestID() }
