package push

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/keel-os/keel/packer/progress"
)

// OpenStack pushes a disk image (-format qcow2-bios, qcow2-efi, raw-bios,
// raw-efi) to an OpenStack cloud's image service, Glance: it creates the
// image record, uploads the file into it and waits for the image to be
// active. Credentials are OpenStack's standard ones: OS_CLOUD naming a
// cloud in clouds.yaml (and secure.yaml), else the OS_* variables of an
// openrc file.
type OpenStack struct {
	// Region; default: the cloud's (OS_REGION_NAME, clouds.yaml).
	Region string
	// Name of the image; default: the file's name without its extension.
	Name string
	// Replace deletes this project's images of the same name once the new
	// one is active; without it a name taken by another image is an error.
	Replace bool
	// Arch is the image's architecture property: x86_64 (default) or
	// aarch64.
	Arch string
	// Visibility of the image: private (default), shared, community or
	// public.
	Visibility string

	Progress progress.Reporter
	// Log receives a line per step; nil: nothing.
	Log io.Writer

	// HTTPClient replaces the default one (tests).
	HTTPClient *http.Client
	// PollInterval between looks at an image's status (default 2 s).
	PollInterval time.Duration
}

// Push uploads the image at path into Glance.
func (o *OpenStack) Push(ctx context.Context, path string) (*Result, error) {
	name := o.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if name == "" || len(name) > 255 {
		return nil, fmt.Errorf("openstack: image name %q is not valid (1 to 255 characters): give --name", name)
	}
	arch := o.Arch
	switch arch {
	case "", "x86_64", "amd64":
		arch = "x86_64"
	case "aarch64", "arm64":
		arch = "aarch64"
	default:
		return nil, fmt.Errorf("openstack: --arch %q: give x86_64 or aarch64", o.Arch)
	}
	vis := images.ImageVisibility(o.Visibility)
	switch vis {
	case "":
		vis = images.ImageVisibilityPrivate
	case images.ImageVisibilityPrivate, images.ImageVisibilityShared, images.ImageVisibilityCommunity, images.ImageVisibilityPublic:
	default:
		return nil, fmt.Errorf("openstack: --visibility %q: give private, shared, community or public", o.Visibility)
	}
	format, mode, err := diskImage(path)
	if err != nil {
		return nil, fmt.Errorf("openstack: %w", err)
	}
	digest, size, err := fileDigest(path)
	if err != nil {
		return nil, fmt.Errorf("openstack: %w", err)
	}
	res := &Result{Provider: "openstack", Name: name, Digest: digest, BootMode: string(mode)}

	glance, project, err := o.connect(ctx)
	if err != nil {
		return nil, err
	}
	pages, err := images.List(glance, images.ListOpts{Name: name, Owner: project}).AllPages(ctx)
	if err != nil {
		return nil, o.mapErr(err, "look for image "+name, "get_images")
	}
	found, err := images.ExtractImages(pages)
	if err != nil {
		return nil, fmt.Errorf("openstack: look for image %s: %w", name, err)
	}
	var old []images.Image
	for _, img := range found {
		if img.Properties["keel_digest"] == digest && img.Status == images.ImageStatusActive && !o.Replace {
			o.logf("image %s (%s) already holds %s: nothing to push\n", name, img.ID, digest)
			res.ID, res.Object, res.Reused = img.ID, img.File, true
			return res, nil
		}
		// A same-file image that never became active is what a failed
		// push leaves: it goes without --replace.
		if img.Properties["keel_digest"] != digest && !o.Replace {
			return nil, &Error{Kind: Conflict, Msg: fmt.Sprintf("openstack: image %s already exists (%s) with other contents: give --replace to delete it once the new one is active, or another --name", name, img.ID)}
		}
		old = append(old, img)
	}

	props := map[string]string{"keel_digest": digest, "os_type": "linux", "architecture": arch}
	if mode == UEFI {
		props["hw_firmware_type"] = "uefi"
	}
	o.logf("creating image %s (%s, %s)\n", name, format, mode)
	img, err := images.Create(ctx, glance, images.CreateOpts{
		Name: name, ContainerFormat: "bare", DiskFormat: format, Visibility: &vis, Properties: props,
	}).Extract()
	if err != nil {
		return nil, o.mapErr(err, "create image "+name, "add_image")
	}
	res.ID, res.Object = img.ID, glance.ServiceURL("images", img.ID, "file")
	if err := o.upload(ctx, glance, img.ID, path, size); err != nil {
		// The empty record is of no use; a failed delete leaves it
		// queued, and the next push deletes it.
		images.Delete(context.WithoutCancel(ctx), glance, img.ID)
		return nil, err
	}
	if err := o.waitActive(ctx, glance, img.ID); err != nil {
		return nil, err
	}
	for _, prev := range old {
		o.logf("deleting image %s (%s)\n", prev.ID, prev.Status)
		if err := images.Delete(ctx, glance, prev.ID).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return nil, o.mapErr(err, "delete image "+prev.ID, "delete_image")
		}
	}
	return res, nil
}

func (o *OpenStack) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format, args...)
	}
}

// connect authenticates with Keystone and returns the image service's
// client and the token's project ID ("" when Keystone does not say).
func (o *OpenStack) connect(ctx context.Context) (*gophercloud.ServiceClient, string, error) {
	var (
		auth gophercloud.AuthOptions
		eo   gophercloud.EndpointOpts
		tlsc *tls.Config
		err  error
	)
	if os.Getenv("OS_CLOUD") != "" {
		auth, eo, tlsc, err = clouds.Parse()
		if err != nil {
			return nil, "", &Error{Kind: NoCredentials, Msg: fmt.Sprintf("openstack: OS_CLOUD=%s: %v: check clouds.yaml (./, ~/.config/openstack/, /etc/openstack/ or OS_CLIENT_CONFIG_FILE)", os.Getenv("OS_CLOUD"), err), Err: err}
		}
	} else {
		if auth, err = authFromEnv(); err != nil {
			return nil, "", &Error{Kind: NoCredentials, Msg: "openstack: no credentials: " + err.Error() + ": source the project's openrc file or set OS_CLOUD to a cloud in clouds.yaml", Err: err}
		}
		eo.Region = os.Getenv("OS_REGION_NAME")
		eo.Availability = gophercloud.Availability(os.Getenv("OS_INTERFACE"))
		if eo.Availability == "" {
			eo.Availability = gophercloud.AvailabilityPublic
		}
	}
	if o.Region != "" {
		eo.Region = o.Region
	}
	// An upload can outlast a token.
	auth.AllowReauth = true
	var hc http.Client
	if o.HTTPClient != nil {
		hc = *o.HTTPClient
	}
	var provider *gophercloud.ProviderClient
	if tlsc != nil {
		provider, err = config.NewProviderClient(ctx, auth, config.WithHTTPClient(hc), config.WithTLSConfig(tlsc))
	} else {
		provider, err = config.NewProviderClient(ctx, auth, config.WithHTTPClient(hc))
	}
	if err != nil {
		return nil, "", o.mapErr(err, "authenticate with "+auth.IdentityEndpoint, "")
	}
	glance, err := openstack.NewImageV2(provider, eo)
	if err != nil {
		var nf *gophercloud.ErrEndpointNotFound
		if errors.As(err, &nf) || strings.Contains(err.Error(), "No suitable endpoint") {
			return nil, "", &Error{Kind: NotFound, Msg: fmt.Sprintf("openstack: the cloud's catalog has no image service (Glance) in region %q: give --region or set OS_REGION_NAME", eo.Region), Err: err}
		}
		return nil, "", fmt.Errorf("openstack: %w", err)
	}
	project := ""
	if r, ok := provider.GetAuthResult().(interface {
		ExtractProject() (*tokens.Project, error)
	}); ok {
		if p, err := r.ExtractProject(); err == nil && p != nil {
			project = p.ID
		}
	}
	return glance, project, nil
}

// authFromEnv reads the variables of an openrc file (Keystone v3: a
// password or an application credential). gophercloud's own
// AuthOptionsFromEnv reads no OS_USER_DOMAIN_NAME or
// OS_PROJECT_DOMAIN_NAME, which every openrc Horizon hands out sets.
func authFromEnv() (gophercloud.AuthOptions, error) {
	env := func(names ...string) string {
		for _, n := range names {
			if v := os.Getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	a := gophercloud.AuthOptions{
		IdentityEndpoint:            env("OS_AUTH_URL"),
		Username:                    env("OS_USERNAME"),
		UserID:                      env("OS_USER_ID", "OS_USERID"),
		Password:                    env("OS_PASSWORD"),
		DomainID:                    env("OS_USER_DOMAIN_ID", "OS_DOMAIN_ID"),
		DomainName:                  env("OS_USER_DOMAIN_NAME", "OS_DOMAIN_NAME"),
		ApplicationCredentialID:     env("OS_APPLICATION_CREDENTIAL_ID"),
		ApplicationCredentialName:   env("OS_APPLICATION_CREDENTIAL_NAME"),
		ApplicationCredentialSecret: env("OS_APPLICATION_CREDENTIAL_SECRET"),
	}
	switch {
	case a.IdentityEndpoint == "":
		return a, errors.New("OS_AUTH_URL is not set")
	case a.ApplicationCredentialSecret != "":
		// An application credential carries its project.
		return a, nil
	case a.Username == "" && a.UserID == "":
		return a, errors.New("neither OS_USERNAME nor OS_USER_ID is set")
	case a.Password == "":
		return a, errors.New("OS_PASSWORD is not set")
	}
	if p := env("OS_PROJECT_ID", "OS_TENANT_ID"); p != "" {
		a.Scope = &gophercloud.AuthScope{ProjectID: p}
	} else if p := env("OS_PROJECT_NAME", "OS_TENANT_NAME"); p != "" {
		a.Scope = &gophercloud.AuthScope{ProjectName: p, DomainID: env("OS_PROJECT_DOMAIN_ID", "OS_DOMAIN_ID"), DomainName: env("OS_PROJECT_DOMAIN_NAME", "OS_DOMAIN_NAME")}
		if a.Scope.DomainID == "" && a.Scope.DomainName == "" {
			return a, errors.New("OS_PROJECT_NAME needs OS_PROJECT_DOMAIN_NAME (or OS_PROJECT_DOMAIN_ID)")
		}
	}
	return a, nil
}

// upload sends the file as the image's data in one PUT (Glance's API has
// no resumable upload).
func (o *OpenStack) upload(ctx context.Context, glance *gophercloud.ServiceClient, id, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("openstack: %w", err)
	}
	defer f.Close()
	where := glance.ServiceURL("images", id, "file")
	task := progress.Or(o.Progress).Start(progress.Upload, where, size)
	err = imagedata.Upload(ctx, glance, id, &countingReader{r: f, task: task}).ExtractErr()
	task.Done(err)
	if err != nil {
		return o.mapErr(err, "upload to image "+id, "upload_image")
	}
	progress.Or(o.Progress).Step(progress.Step{Kind: progress.Upload, Name: where, Size: size})
	return nil
}

// waitActive waits for Glance to have checked and stored the data.
func (o *OpenStack) waitActive(ctx context.Context, glance *gophercloud.ServiceClient, id string) error {
	poll := o.PollInterval
	if poll == 0 {
		poll = 2 * time.Second
	}
	for {
		img, err := images.Get(ctx, glance, id).Extract()
		if err != nil {
			return o.mapErr(err, "read image "+id, "get_image")
		}
		switch img.Status {
		case images.ImageStatusActive:
			return nil
		case images.ImageStatusKilled, images.ImageStatusDeleted, images.ImageStatusPendingDelete, images.ImageStatusDeactivated:
			return fmt.Errorf("openstack: image %s ended %s after the upload: Glance refused the data (its log says why)", id, img.Status)
		}
		o.logf("image %s: %s\n", id, img.Status)
		select {
		case <-ctx.Done():
			return fmt.Errorf("openstack: image %s: %w", id, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// mapErr turns a gophercloud error into one line naming what to fix;
// policy is the Glance policy rule the call needs.
func (o *OpenStack) mapErr(err error, what, policy string) error {
	var ue gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &ue) {
		return fmt.Errorf("openstack: %s: %w", what, err)
	}
	msg := glanceMessage(ue.Body)
	switch ue.Actual {
	case http.StatusUnauthorized:
		return &Error{Kind: NoCredentials, Msg: fmt.Sprintf("openstack: %s: the credentials were refused (%s): check the OS_* variables or clouds.yaml, or get a new application credential", what, msg), Err: err}
	case http.StatusForbidden:
		need := "the permission for it"
		if policy != "" {
			need = "Glance's policy " + policy + " (the member role on the project by default)"
		}
		return &Error{Kind: Denied, Msg: fmt.Sprintf("openstack: %s: permission denied: the user needs %s (%s)", what, need, msg), Err: err}
	case http.StatusConflict:
		return &Error{Kind: Conflict, Msg: fmt.Sprintf("openstack: %s: conflict (%s): give --replace or another --name", what, msg), Err: err}
	case http.StatusRequestEntityTooLarge:
		return &Error{Kind: Quota, Msg: fmt.Sprintf("openstack: %s: quota exceeded (%s): delete unused images or ask the cloud's operator to raise the project's image quota (image_size_total, image_count_total)", what, msg), Err: err}
	case http.StatusNotFound:
		return &Error{Kind: NotFound, Msg: fmt.Sprintf("openstack: %s: not found (%s)", what, msg), Err: err}
	}
	return fmt.Errorf("openstack: %s: HTTP %d: %s", what, ue.Actual, msg)
}

// glanceMessage is the useful line of an OpenStack error body: Keystone
// sends JSON {"error": {"message"}}, Glance an HTML page whose text ends
// with the reason.
func glanceMessage(body []byte) string {
	s := string(body)
	if i := strings.Index(s, `"message": "`); i >= 0 {
		s = s[i+len(`"message": "`):]
		if j := strings.Index(s, `"`); j >= 0 {
			return oneLine(s[:j])
		}
	}
	var text []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '<' || r == '>' || r == '\n' }) {
		if f = strings.TrimSpace(f); f != "" && !strings.ContainsAny(f, "=/") && f != "html" && f != "head" && f != "body" && f != "title" && f != "h1" {
			text = append(text, f)
		}
	}
	if len(text) == 0 {
		return "no message"
	}
	return oneLine(text[len(text)-1])
}

// DeleteImage deletes the image of that ID.
func (o *OpenStack) DeleteImage(ctx context.Context, id string) error {
	glance, _, err := o.connect(ctx)
	if err != nil {
		return err
	}
	if err := images.Delete(ctx, glance, id).ExtractErr(); err != nil {
		return o.mapErr(err, "delete image "+id, "delete_image")
	}
	return nil
}
