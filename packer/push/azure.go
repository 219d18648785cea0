package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"

	"github.com/keel-os/keel/packer/progress"
)

// Azure pushes a vhd image (-format vhd, a fixed VHD) to Microsoft Azure:
// the file goes to a storage account's container as a page blob, sent in
// parallel pages with the all-zero ones left out, then Azure makes a
// managed image of the blob. Credentials come from azidentity's
// DefaultAzureCredential (AZURE_* variables, workload or managed
// identity, az login); AZURE_STORAGE_CONNECTION_STRING, when set, is used
// for the upload instead (an emulator such as Azurite, or an account key).
type Azure struct {
	Subscription   string
	ResourceGroup  string
	StorageAccount string
	// Container in the storage account; default "keel".
	Container string
	// Location of the image: the storage account's region.
	Location string
	// Name of the image and of the blob (NAME.vhd); default: the file's
	// name without .vhd.
	Name string
	// Replace deletes an image of the same name (after the upload);
	// without it a name taken by another image is an error.
	Replace bool

	Progress progress.Reporter
	// Log receives a line per step; nil: nothing.
	Log io.Writer

	// Credential replaces DefaultAzureCredential (tests).
	Credential azcore.TokenCredential
	// ARMOptions and BlobOptions reach the SDK clients (tests: endpoints,
	// transports, quick retries). ConnectionString replaces
	// $AZURE_STORAGE_CONNECTION_STRING.
	ARMOptions       *arm.ClientOptions
	BlobOptions      *pageblob.ClientOptions
	ConnectionString string
	// Parallel page uploads (default 8); PollInterval between looks at a
	// long-running ARM operation (default 5 s).
	Parallel     int
	PollInterval time.Duration
}

var (
	// azureImageName is what Azure takes as a managed image's name.
	azureImageName = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,78}[a-zA-Z0-9_])?$`)
	storageAccount = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	blobContainer  = regexp.MustCompile(`^[a-z0-9]([a-z0-9]|-[a-z0-9]){2,62}$`)
)

// digestTag is the image's tag (and, as keel_digest, the blob's metadata:
// metadata names must be identifiers) holding the digest of the file.
const digestTag = "keel-digest"

// Push uploads the fixed VHD at path and creates the managed image.
func (a *Azure) Push(ctx context.Context, path string) (*Result, error) {
	name := a.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(path), ".vhd")
	}
	if err := a.check(name); err != nil {
		return nil, err
	}
	size, mode, err := fixedVHD(path)
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	digest, _, err := fileDigest(path)
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	cred := a.Credential
	if cred == nil {
		if cred, err = azidentity.NewDefaultAzureCredential(nil); err != nil {
			return nil, a.noCredentials(err)
		}
	}
	// A token up front turns a missing login into one clear line instead
	// of the first call's long chain of attempts.
	scope := "https://management.azure.com/.default"
	if a.ARMOptions != nil {
		if c, ok := a.ARMOptions.Cloud.Services[cloud.ResourceManager]; ok && c.Audience != "" {
			scope = c.Audience + "/.default"
		}
	}
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}}); err != nil {
		return nil, a.noCredentials(err)
	}
	images, err := a.imagesClient(cred)
	if err != nil {
		return nil, err
	}
	pb, err := a.pageBlob(cred, name+".vhd")
	if err != nil {
		return nil, err
	}
	blobURL := pb.URL()
	res := &Result{Provider: "azure", Name: name, Digest: digest, Object: blobURL, BootMode: string(mode)}

	old, err := a.getImage(ctx, images, name)
	if err != nil {
		return nil, err
	}
	if old != nil {
		switch {
		case old.Tags[digestTag] != nil && *old.Tags[digestTag] == digest && !a.Replace:
			a.logf("image %s already holds %s: nothing to push\n", name, digest)
			res.ID, res.Reused = deref(old.ID), true
			return res, nil
		case !a.Replace:
			return nil, &Error{Kind: Conflict, Msg: fmt.Sprintf("azure: image %s already exists in resource group %s with other contents: give --replace to delete and recreate it, or another --name", name, a.ResourceGroup)}
		}
	}

	if err := a.upload(ctx, pb, path, digest, size); err != nil {
		return nil, err
	}
	if old != nil {
		a.logf("deleting image %s (--replace)\n", name)
		p, err := images.BeginDelete(ctx, a.ResourceGroup, name, nil)
		if err == nil {
			_, err = pollARM(ctx, p, a.pollInterval())
		}
		if err != nil {
			return nil, a.mapARMErr(err, "delete image "+name, "Microsoft.Compute/images/delete")
		}
	}
	gen := armcompute.HyperVGenerationTypesV1
	if mode == UEFI {
		gen = armcompute.HyperVGenerationTypesV2
	}
	a.logf("creating image %s (%s, Hyper-V generation %s)\n", name, mode, gen)
	p, err := images.BeginCreateOrUpdate(ctx, a.ResourceGroup, name, armcompute.Image{
		Location: to.Ptr(a.Location),
		Tags:     map[string]*string{digestTag: to.Ptr(digest)},
		Properties: &armcompute.ImageProperties{
			HyperVGeneration: to.Ptr(gen),
			StorageProfile: &armcompute.ImageStorageProfile{
				OSDisk: &armcompute.ImageOSDisk{
					OSType:  to.Ptr(armcompute.OperatingSystemTypesLinux),
					OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
					BlobURI: to.Ptr(blobURL),
					Caching: to.Ptr(armcompute.CachingTypesReadWrite),
				},
			},
		},
	}, nil)
	var made armcompute.ImagesClientCreateOrUpdateResponse
	if err == nil {
		made, err = pollARM(ctx, p, a.pollInterval())
	}
	if err != nil {
		return nil, a.mapARMErr(err, "create image "+name, "Microsoft.Compute/images/write")
	}
	res.ID = deref(made.ID)
	return res, nil
}

// DeleteImage deletes the managed image name in the resource group (the
// blob it was made from stays).
func (a *Azure) DeleteImage(ctx context.Context, name string) error {
	cred := a.Credential
	if cred == nil {
		var err error
		if cred, err = azidentity.NewDefaultAzureCredential(nil); err != nil {
			return a.noCredentials(err)
		}
	}
	images, err := a.imagesClient(cred)
	if err != nil {
		return err
	}
	p, err := images.BeginDelete(ctx, a.ResourceGroup, name, nil)
	if err == nil {
		_, err = pollARM(ctx, p, a.pollInterval())
	}
	if err != nil {
		return a.mapARMErr(err, "delete image "+name, "Microsoft.Compute/images/delete")
	}
	return nil
}

func (a *Azure) imagesClient(cred azcore.TokenCredential) (*armcompute.ImagesClient, error) {
	opts := &arm.ClientOptions{}
	if a.ARMOptions != nil {
		o := *a.ARMOptions
		opts = &o
	}
	// Registering Microsoft.Compute needs a permission of its own and
	// minutes; an error saying how is better than a wait.
	opts.DisableRPRegistration = true
	images, err := armcompute.NewImagesClient(a.Subscription, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	return images, nil
}

// check refuses options Azure would refuse, before anything is sent.
func (a *Azure) check(name string) error {
	switch {
	case a.Subscription == "":
		return errors.New("azure: no subscription: give --subscription or set AZURE_SUBSCRIPTION_ID")
	case a.ResourceGroup == "":
		return errors.New("azure: no resource group: give --resource-group, the group the image is made in")
	case a.Location == "":
		return errors.New("azure: no location: give --location, the storage account's region (e.g. westeurope)")
	case a.StorageAccount == "" && a.connString() == "":
		return errors.New("azure: no storage account: give --storage-account, the account the VHD is uploaded to")
	case a.StorageAccount != "" && !storageAccount.MatchString(a.StorageAccount):
		return fmt.Errorf("azure: storage account name %q is not valid (3 to 24 lowercase letters and digits)", a.StorageAccount)
	case !blobContainer.MatchString(a.container()):
		return fmt.Errorf("azure: container name %q is not valid (3 to 63 lowercase letters, digits and single hyphens)", a.container())
	case !azureImageName.MatchString(name):
		return fmt.Errorf("azure: image name %q is not valid (1 to 80 letters, digits, _ . -, starting with a letter or digit, ending with one or _): give --name", name)
	}
	return nil
}

func (a *Azure) container() string {
	if a.Container == "" {
		return "keel"
	}
	return a.Container
}

func (a *Azure) pollInterval() time.Duration {
	if a.PollInterval == 0 {
		return 5 * time.Second
	}
	return a.PollInterval
}

func (a *Azure) logf(format string, args ...any) {
	if a.Log != nil {
		fmt.Fprintf(a.Log, format, args...)
	}
}

func (a *Azure) noCredentials(err error) error { return AzureNoCredentials(err) }

// AzureNoCredentials is the one line for a DefaultAzureCredential that
// found no identity or got no token.
func AzureNoCredentials(err error) error {
	return &Error{Kind: NoCredentials, Msg: "azure: no credentials: run `az login`, set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH, or AZURE_FEDERATED_TOKEN_FILE), or run with a managed identity", Err: err}
}

// getImage returns the managed image of that name, or nil when there is
// none.
func (a *Azure) getImage(ctx context.Context, c *armcompute.ImagesClient, name string) (*armcompute.Image, error) {
	got, err := c.Get(ctx, a.ResourceGroup, name, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == 404 && (re.ErrorCode == "ResourceNotFound" || re.ErrorCode == "NotFound") {
		return nil, nil
	}
	if err != nil {
		return nil, a.mapARMErr(err, "read image "+name, "Microsoft.Compute/images/read")
	}
	return &got.Image, nil
}

func pollARM[T any](ctx context.Context, p *runtime.Poller[T], interval time.Duration) (T, error) {
	return PollARM(ctx, p, interval)
}

// PollARM waits for a long-running ARM operation, looking every interval
// (the SDK's own wait loop looks at most once a second).
func PollARM[T any](ctx context.Context, p *runtime.Poller[T], interval time.Duration) (T, error) {
	for !p.Done() {
		if _, err := p.Poll(ctx); err != nil {
			var zero T
			return zero, err
		}
		if p.Done() {
			break
		}
		select {
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		case <-time.After(interval):
		}
	}
	return p.Result(ctx)
}

// mapARMErr turns an ARM error into one line naming what to fix.
func (a *Azure) mapARMErr(err error, what, perm string) error {
	return ARMError(err, ARMScope{Subscription: a.Subscription, ResourceGroup: a.ResourceGroup, Location: a.Location,
		ConflictFix: "the name is taken or the image is in use; give --replace or another --name"}, what, perm)
}

// ARMScope is where an ARM call was made, for the lines that name what
// to fix, and what fixes a conflict there.
type ARMScope struct {
	Subscription, ResourceGroup, Location string
	ConflictFix                           string
}

// ARMError turns an ARM error into one line naming what to fix: perm is
// the action the call needs (e.g. Microsoft.Compute/images/write).
func ARMError(err error, a ARMScope, what, perm string) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		var af *azidentity.AuthenticationFailedError
		if errors.As(err, &af) {
			return AzureNoCredentials(err)
		}
		return fmt.Errorf("azure: %s: %w", what, err)
	}
	code, msg := re.ErrorCode, armMessage(re)
	low := strings.ToLower(code + " " + msg)
	switch {
	case re.StatusCode == 401 || strings.HasPrefix(code, "InvalidAuthenticationToken") || code == "ExpiredAuthenticationToken":
		return &Error{Kind: NoCredentials, Msg: fmt.Sprintf("azure: %s: the credentials were refused (%s): run `az login` again or check the AZURE_* variables", what, code), Err: err}
	case code == "AuthorizationFailed" || code == "LinkedAuthorizationFailed" || re.StatusCode == 403:
		// ARM's message names the action that was refused, which may be
		// another than perm (a linked check on the storage account).
		return &Error{Kind: Denied, Msg: fmt.Sprintf("azure: %s: permission denied: the identity needs %s on resource group %s (in the built-in role Contributor, or a custom role; docs/clouds.md lists them) (%s: %s)", what, perm, a.ResourceGroup, code, msg), Err: err}
	case strings.Contains(low, "quota") || code == "OperationNotAllowed" && strings.Contains(low, "limit") || strings.HasSuffix(code, "LimitReached"):
		return &Error{Kind: Quota, Msg: fmt.Sprintf("azure: %s: quota exceeded in subscription %s (%s: %s): raise it under Subscriptions > Usage + quotas (or Quotas for vCPUs) or delete what is unused", what, a.Subscription, code, msg), Err: err}
	case re.StatusCode == 409 || code == "Conflict":
		return &Error{Kind: Conflict, Msg: fmt.Sprintf("azure: %s: conflict (%s: %s): %s", what, code, msg, a.ConflictFix), Err: err}
	case code == "ResourceGroupNotFound":
		return &Error{Kind: NotFound, Msg: fmt.Sprintf("azure: %s: resource group %s does not exist: create it (az group create --name %s --location %s) or give another --resource-group", what, a.ResourceGroup, a.ResourceGroup, a.Location), Err: err}
	case code == "SubscriptionNotFound" || code == "InvalidSubscriptionId":
		return &Error{Kind: NotFound, Msg: fmt.Sprintf("azure: %s: subscription %s not found: check --subscription or AZURE_SUBSCRIPTION_ID (az account list)", what, a.Subscription), Err: err}
	case code == "MissingSubscriptionRegistration":
		ns := "Microsoft.Compute"
		if strings.Contains(perm, "Microsoft.Network/") {
			ns = "Microsoft.Network"
		}
		return &Error{Kind: Denied, Msg: fmt.Sprintf("azure: %s: the subscription is not registered for %s: run az provider register --namespace %s", what, ns, ns), Err: err}
	}
	return fmt.Errorf("azure: %s: HTTP %d %s: %s", what, re.StatusCode, code, msg)
}

// armMessage is the message of an ARM error body ({"error": {"code",
// "message"}}, also in a failed operation's status), one line.
func armMessage(re *azcore.ResponseError) string {
	if re.RawResponse != nil {
		if body, err := runtime.Payload(re.RawResponse); err == nil {
			var e struct {
				Error struct{ Message string } `json:"error"`
			}
			if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
				return oneLine(e.Error.Message)
			}
		}
	}
	return re.ErrorCode
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
