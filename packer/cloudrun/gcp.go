package cloudrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	compute "google.golang.org/api/compute/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/keel-os/keel/packer/push"
)

// GCPUserdataMax is Compute Engine's limit on one metadata value.
const GCPUserdataMax = 256 << 10

// GCP runs an instance of a Compute Engine image on Compute Engine. The
// userdata goes into the instance's metadata as the user-data attribute
// and the SSH keys as ssh-keys ("keel:KEY" lines): metadata/gcp.go reads
// both from the metadata server. Credentials are Application Default
// Credentials.
type GCP struct {
	Project string
	Zone    string
	// Machine is the machine type, e.g. e2-small.
	Machine string
	// Image is the image's name in Project, or a path such as
	// projects/P/global/images/NAME or projects/P/global/images/family/F.
	Image string
	// Name of the instance; default: the image's name and a random suffix.
	Name string
	// DiskSize of the boot disk in GB; 0: the image's size.
	DiskSize int64
	Userdata []byte
	SSHKeys  []string
	// NestedVirt lets the instance run VMs; SecureBoot and VTPM turn on
	// those Shielded VM features (SecureBoot needs a SECURE_BOOT image:
	// keel push gcp --secure-boot-cert).
	NestedVirt, SecureBoot, VTPM bool
	// Detach returns once the instance runs, leaving it there; otherwise
	// Run streams the serial console until the instance stops or ctx
	// ends, then deletes the instance unless Keep.
	Detach, Keep bool

	// Console receives serial port 1; Log a line per step (nil: nothing).
	Console, Log io.Writer

	// ComputeOptions reach the SDK client: tests point it at a local
	// server.
	ComputeOptions []option.ClientOption
	// RetryDelay is the first wait before retrying a call that failed
	// with 429 or 5xx (default 1 s); PollInterval the wait between reads
	// of the console and of operations (default 2 s).
	RetryDelay, PollInterval time.Duration
	// CleanupTimeout bounds the deletion after ctx ended (default 5 min).
	CleanupTimeout time.Duration
}

var gcpName = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

// gcpImagePath is a relative resource path of an image (or family).
var gcpImagePath = regexp.MustCompile(`^projects/[a-z][-a-z0-9.:]*/global/images/(family/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

func (g *GCP) check() error {
	switch {
	case g.Project == "":
		return errors.New("gcp: no project: give --project or set GOOGLE_CLOUD_PROJECT")
	case !gcpName.MatchString(g.Zone):
		return fmt.Errorf("gcp: zone %q is not valid: give --zone, e.g. europe-west1-d", g.Zone)
	case !gcpName.MatchString(g.Machine):
		return fmt.Errorf("gcp: machine type %q is not valid: give --machine, e.g. e2-small", g.Machine)
	case !gcpName.MatchString(g.Image) && !gcpImagePath.MatchString(g.Image):
		return fmt.Errorf("gcp: image %q is neither an image name nor projects/P/global/images/[family/]NAME", g.Image)
	case g.Name != "" && !gcpName.MatchString(g.Name):
		return fmt.Errorf("gcp: instance name %q is not valid on Compute Engine (lowercase letters, digits and -, starting with a letter, at most 63): give --name", g.Name)
	case g.DiskSize < 0:
		return fmt.Errorf("gcp: --disk-size %d: give a size in GB, or 0 for the image's", g.DiskSize)
	case len(g.Userdata) > GCPUserdataMax:
		return fmt.Errorf("gcp: userdata of %d bytes: Compute Engine takes at most %d in a metadata value", len(g.Userdata), GCPUserdataMax)
	}
	return nil
}

// instance is the instances.insert request of a run.
func (g *GCP) instance(name string) *compute.Instance {
	src := g.Image
	if !strings.Contains(src, "/") {
		src = "projects/" + g.Project + "/global/images/" + src
	}
	in := &compute.Instance{
		Name:        name,
		MachineType: "zones/" + g.Zone + "/machineTypes/" + g.Machine,
		Disks: []*compute.AttachedDisk{{
			Boot: true, AutoDelete: true, Type: "PERSISTENT",
			InitializeParams: &compute.AttachedDiskInitializeParams{SourceImage: src, DiskSizeGb: g.DiskSize},
		}},
		// An external address, so that an sshd in the image can be reached.
		NetworkInterfaces: []*compute.NetworkInterface{{
			Network:       "global/networks/default",
			AccessConfigs: []*compute.AccessConfig{{Name: "External NAT", Type: "ONE_TO_ONE_NAT"}},
		}},
		Labels:   map[string]string{"made-by": "keel"},
		Metadata: &compute.Metadata{},
	}
	if g.Userdata != nil {
		v := string(g.Userdata)
		in.Metadata.Items = append(in.Metadata.Items, &compute.MetadataItems{Key: "user-data", Value: &v})
	}
	if len(g.SSHKeys) > 0 {
		lines := make([]string, len(g.SSHKeys))
		for i, k := range g.SSHKeys {
			lines[i] = "keel:" + k
		}
		v := strings.Join(lines, "\n")
		in.Metadata.Items = append(in.Metadata.Items, &compute.MetadataItems{Key: "ssh-keys", Value: &v})
	}
	if g.NestedVirt {
		in.AdvancedMachineFeatures = &compute.AdvancedMachineFeatures{EnableNestedVirtualization: true}
	}
	if g.SecureBoot || g.VTPM {
		in.ShieldedInstanceConfig = &compute.ShieldedInstanceConfig{EnableSecureBoot: g.SecureBoot, EnableVtpm: g.VTPM, EnableIntegrityMonitoring: g.VTPM}
	}
	return in
}

// Run creates the instance and, unless Detach, streams its console until
// it stops or ctx ends, then deletes it unless Keep. It returns the
// instance's name.
func (g *GCP) Run(ctx context.Context) (name string, err error) {
	if err := g.check(); err != nil {
		return "", err
	}
	name = g.Name
	if name == "" {
		name = instanceName(g.Image, 63)
		if !gcpName.MatchString(name) {
			name = instanceName("keel", 63)
		}
	}
	svc, err := compute.NewService(ctx, g.ComputeOptions...)
	if err != nil {
		return "", g.mapErr(err, "connect to Compute Engine", "")
	}
	g.logf("creating instance %s (%s, %s) from %s\n", name, g.Machine, g.Zone, g.Image)
	created := false
	if !g.Detach && !g.Keep {
		// Deleted however the run ends once the insert was accepted: an
		// instance left behind costs money.
		defer func() {
			if created {
				if derr := g.cleanup(ctx, svc, name); derr != nil && err == nil {
					err = derr
				}
			}
		}()
	}
	err = g.do(ctx, svc, "create instance "+name, "compute.instances.create (roles/compute.instanceAdmin.v1) and compute.images.useReadOnly on the image", func(id string) (*compute.Operation, error) {
		op, err := svc.Instances.Insert(g.Project, g.Zone, g.instance(name)).RequestId(id).Context(ctx).Do()
		if err == nil {
			created = true
		}
		return op, err
	})
	if err != nil {
		if push.IsKind(err, push.Conflict) {
			return "", &push.Error{Kind: push.Conflict, Msg: fmt.Sprintf("gcp: instance %s already exists in zone %s: give another --name, or delete it with keel rm gcp %s", name, g.Zone, name), Err: err}
		}
		return name, err
	}
	g.logf("instance %s is running\n", name)
	if g.Detach {
		return name, nil
	}
	return name, g.stream(ctx, svc, name)
}

// cleanup deletes the instance on the way out, ctx or no ctx.
func (g *GCP) cleanup(ctx context.Context, svc *compute.Service, name string) error {
	limit := g.CleanupTimeout
	if limit == 0 {
		limit = 5 * time.Minute
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	defer cancel()
	g.logf("deleting instance %s\n", name)
	err := g.delete(dctx, svc, name)
	if push.IsKind(err, push.NotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w (delete it by hand: keel rm gcp --project %s --zone %s %s)", err, g.Project, g.Zone, name)
	}
	return nil
}

// Delete deletes the instance name (and its boot disk, made to go with
// it).
func (g *GCP) Delete(ctx context.Context, name string) error {
	if g.Project == "" {
		return errors.New("gcp: no project: give --project or set GOOGLE_CLOUD_PROJECT")
	}
	if !gcpName.MatchString(g.Zone) {
		return fmt.Errorf("gcp: zone %q is not valid: give --zone", g.Zone)
	}
	if !gcpName.MatchString(name) {
		return fmt.Errorf("gcp: instance name %q is not valid on Compute Engine", name)
	}
	svc, err := compute.NewService(ctx, g.ComputeOptions...)
	if err != nil {
		return g.mapErr(err, "connect to Compute Engine", "")
	}
	return g.delete(ctx, svc, name)
}

func (g *GCP) delete(ctx context.Context, svc *compute.Service, name string) error {
	err := g.do(ctx, svc, "delete instance "+name, "compute.instances.delete (roles/compute.instanceAdmin.v1)", func(id string) (*compute.Operation, error) {
		return svc.Instances.Delete(g.Project, g.Zone, name).RequestId(id).Context(ctx).Do()
	})
	if push.IsKind(err, push.NotFound) {
		return &push.Error{Kind: push.NotFound, Msg: fmt.Sprintf("gcp: instance %s not found in zone %s of project %s", name, g.Zone, g.Project), Err: err}
	}
	return err
}

// stream copies serial port 1 to Console until the instance stops or ctx
// ends. Compute Engine keeps the last 1 MiB of the port; each read asks
// from the offset where the last one ended (start), and the answer's
// start says how much fell out of that buffer meanwhile.
func (g *GCP) stream(ctx context.Context, svc *compute.Service, name string) error {
	console := g.Console
	if console == nil {
		console = io.Discard
	}
	var next int64
	for {
		// The status first: output read after a stop was seen is all
		// there will be.
		var inst *compute.Instance
		err := push.GCPRetry(ctx, g.RetryDelay, func() error {
			var err error
			inst, err = svc.Instances.Get(g.Project, g.Zone, name).Context(ctx).Do()
			return err
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return g.mapErr(err, "read instance "+name, "compute.instances.get")
		}
		stopped := inst.Status == "TERMINATED" || inst.Status == "STOPPED" || inst.Status == "SUSPENDED"
		var out *compute.SerialPortOutput
		err = push.GCPRetry(ctx, g.RetryDelay, func() error {
			var err error
			out, err = svc.Instances.GetSerialPortOutput(g.Project, g.Zone, name).Port(1).Start(next).Context(ctx).Do()
			return err
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return g.mapErr(err, "read the serial console of "+name, "compute.instances.getSerialPortOutput")
		}
		if out.Start > next {
			fmt.Fprintf(console, "\n[keel: %d bytes of console output were lost]\n", out.Start-next)
		}
		io.WriteString(console, out.Contents)
		if out.Next > next {
			next = out.Next
		}
		if stopped {
			g.logf("instance %s is %s\n", name, strings.ToLower(inst.Status))
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(g.poll()):
		}
	}
}

func (g *GCP) poll() time.Duration {
	if g.PollInterval == 0 {
		return 2 * time.Second
	}
	return g.PollInterval
}

// do runs a call that starts a zone operation and waits for its end, with
// one request ID through the call's retries.
func (g *GCP) do(ctx context.Context, svc *compute.Service, what, perm string, call func(requestID string) (*compute.Operation, error)) error {
	id := push.GCPRequestID()
	var op *compute.Operation
	err := push.GCPRetry(ctx, g.RetryDelay, func() error {
		var err error
		op, err = call(id)
		return err
	})
	if err != nil {
		return g.mapErr(err, what, perm)
	}
	for op.Status != "DONE" {
		name := op.Name
		err := push.GCPRetry(ctx, g.RetryDelay, func() error {
			var err error
			op, err = svc.ZoneOperations.Wait(g.Project, g.Zone, name).Context(ctx).Do()
			return err
		})
		if err != nil {
			return g.mapErr(err, what+": wait for operation "+name, "compute.zoneOperations.get")
		}
		if op.Status != "DONE" {
			select {
			case <-ctx.Done():
				return fmt.Errorf("gcp: %s: %w", what, ctx.Err())
			case <-time.After(g.poll()):
			}
		}
	}
	if op.Error != nil && len(op.Error.Errors) > 0 {
		return push.GCPOperationError(g.Project, op.Error.Errors[0], what, perm)
	}
	return nil
}

func (g *GCP) mapErr(err error, what, perm string) error {
	var ae *googleapi.Error
	if errors.As(err, &ae) && ae.Code == http.StatusNotFound {
		return &push.Error{Kind: push.NotFound, Msg: fmt.Sprintf("gcp: %s: not found (%s): check --project %s, --zone %s and the image's name", what, strings.TrimSpace(firstLine(ae.Message)), g.Project, g.Zone), Err: err}
	}
	return push.GCPError(g.Project, err, what, perm)
}

func (g *GCP) logf(format string, args ...any) {
	if g.Log != nil {
		fmt.Fprintf(g.Log, format, args...)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return cut(s, 300)
}
