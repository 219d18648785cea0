package cloudrun

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/keel-os/keel/packer/push"
)

// AWSUserdataMax is EC2's limit on userdata, before base64.
const AWSUserdataMax = 16 << 10

// AWS runs an EC2 instance of an AMI. The userdata goes to RunInstances
// (base64, as EC2 wants it) and the instance metadata service serves it
// at /latest/user-data; the SSH key is an EC2 key pair (KeyName), which
// the service serves as public-keys/0/openssh-key: metadata/aws.go reads
// both. Credentials and region come from the SDK's default chain;
// AWS_ENDPOINT_URL_EC2 points it elsewhere.
type AWS struct {
	// Region; default: the SDK's (AWS_REGION, the profile's).
	Region string
	// Image is an AMI ID (ami-...) or the name of an AMI this account owns
	// (what keel push aws registered).
	Image string
	// Name goes into the instance's Name tag; default: the image's name
	// and a random suffix.
	Name string
	// Machine is the instance type, e.g. t3.micro.
	Machine string
	// Zone is an availability zone (eu-west-1a) or only its letter (a);
	// empty: EC2's choice.
	Zone string
	// DiskSize of the root volume in GiB (0: the AMI's) and DiskType
	// (default gp3).
	DiskSize int32
	DiskType string
	// KeyName is an EC2 key pair for SSH; SecurityGroups and Subnet place
	// the instance (default: the default VPC's).
	KeyName        string
	SecurityGroups []string
	Subnet         string
	Userdata       []byte
	// Detach returns once the instance runs; otherwise Run streams the
	// console until the instance stops or ctx ends, then terminates it
	// unless Keep.
	Detach, Keep bool

	// Console receives the serial console; Log a line per step.
	Console, Log io.Writer

	// EC2Options reach the SDK client (tests: quick retries).
	EC2Options []func(*ec2.Options)
	// PollInterval between looks at the instance and its console
	// (default 5 s: EC2 refreshes the console output every few seconds).
	PollInterval time.Duration
	// CleanupTimeout bounds the termination after ctx ended (default 2 min).
	CleanupTimeout time.Duration
}

var (
	amiID      = regexp.MustCompile(`^ami-[0-9a-f]{8,17}$`)
	instanceID = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)
	awsType    = regexp.MustCompile(`^[a-z0-9-]+\.[a-z0-9-]+$`)
	awsZone    = regexp.MustCompile(`^([a-z]|[a-z]{2}(-[a-z]+)+-[0-9][a-z])$`)
	awsTag     = regexp.MustCompile(`^[\pL\pN .:+=@_/-]{1,255}$`)
)

func (a *AWS) check() error {
	switch {
	case a.Image == "":
		return errors.New("aws: no image: give an AMI ID or the name keel push aws registered")
	case !awsType.MatchString(a.Machine):
		return fmt.Errorf("aws: instance type %q is not valid: give --machine, e.g. t3.micro", a.Machine)
	case a.Zone != "" && !awsZone.MatchString(a.Zone):
		return fmt.Errorf("aws: zone %q is not valid: give --zone as eu-west-1a or a", a.Zone)
	case a.Name != "" && !awsTag.MatchString(a.Name):
		return fmt.Errorf("aws: --name %q is not a valid tag value", a.Name)
	case a.DiskSize < 0:
		return fmt.Errorf("aws: --disk-size %d: give a size in GiB, or 0 for the AMI's", a.DiskSize)
	case len(a.Userdata) > AWSUserdataMax:
		return fmt.Errorf("aws: userdata of %d bytes: EC2 takes at most %d", len(a.Userdata), AWSUserdataMax)
	}
	return nil
}

// client loads the SDK's configuration and checks there are credentials.
func (a *AWS) client(ctx context.Context) (*ec2.Client, string, error) {
	var load []func(*config.LoadOptions) error
	if a.Region != "" {
		load = append(load, config.WithRegion(a.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, "", fmt.Errorf("aws: load the SDK's configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, "", errors.New("aws: no region: give --region or set AWS_REGION (or a region in the profile)")
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, "", &push.Error{Kind: push.NoCredentials, Msg: "aws: no credentials: run `aws configure` or `aws sso login`, set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with an instance or task role", Err: err}
	}
	return ec2.NewFromConfig(cfg, a.EC2Options...), cfg.Region, nil
}

// Run starts the instance and, unless Detach, streams its console until
// it stops or ctx ends, then terminates it unless Keep. It returns the
// instance's ID.
func (a *AWS) Run(ctx context.Context) (id string, err error) {
	if err := a.check(); err != nil {
		return "", err
	}
	ec, region, err := a.client(ctx)
	if err != nil {
		return "", err
	}
	img, err := a.image(ctx, ec)
	if err != nil {
		return "", err
	}
	name := a.Name
	if name == "" {
		base := aws.ToString(img.Name)
		if !awsTag.MatchString(base) {
			base = "keel"
		}
		name = instanceName(base, 128)
	}
	in := &ec2.RunInstancesInput{
		ImageId:      img.ImageId,
		InstanceType: ec2types.InstanceType(a.Machine),
		MinCount:     aws.Int32(1),
		MaxCount:     aws.Int32(1),
		// A system that powers off stops, so that its console can still
		// be read; the run then terminates it.
		InstanceInitiatedShutdownBehavior: ec2types.ShutdownBehaviorStop,
		// One token for the SDK's retries of this call: EC2 starts one
		// instance however often the request arrives.
		ClientToken: aws.String(clientToken()),
		TagSpecifications: []ec2types.TagSpecification{{
			ResourceType: ec2types.ResourceTypeInstance,
			Tags:         []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String(name)}, {Key: aws.String("made-by"), Value: aws.String("keel")}},
		}},
	}
	if a.Userdata != nil {
		in.UserData = aws.String(base64.StdEncoding.EncodeToString(a.Userdata))
	}
	if a.KeyName != "" {
		in.KeyName = aws.String(a.KeyName)
	}
	if len(a.SecurityGroups) > 0 {
		in.SecurityGroupIds = a.SecurityGroups
	}
	if a.Subnet != "" {
		in.SubnetId = aws.String(a.Subnet)
	}
	if a.Zone != "" {
		zone := a.Zone
		if len(zone) == 1 {
			zone = region + zone
		}
		in.Placement = &ec2types.Placement{AvailabilityZone: aws.String(zone)}
	}
	if a.DiskSize > 0 || a.DiskType != "" {
		typ := a.DiskType
		if typ == "" {
			typ = "gp3"
		}
		ebs := &ec2types.EbsBlockDevice{VolumeType: ec2types.VolumeType(typ), DeleteOnTermination: aws.Bool(true)}
		if a.DiskSize > 0 {
			ebs.VolumeSize = aws.Int32(a.DiskSize)
		}
		in.BlockDeviceMappings = []ec2types.BlockDeviceMapping{{DeviceName: img.RootDeviceName, Ebs: ebs}}
	}
	a.logf("starting %s instance %s of %s (%s)\n", a.Machine, name, aws.ToString(img.ImageId), region)
	out, err := ec.RunInstances(ctx, in)
	if err != nil {
		return "", a.mapErr(err, "run instance of "+aws.ToString(img.ImageId), "ec2:RunInstances and ec2:CreateTags")
	}
	if len(out.Instances) != 1 || !instanceID.MatchString(aws.ToString(out.Instances[0].InstanceId)) {
		return "", fmt.Errorf("aws: RunInstances answered without an instance")
	}
	id = aws.ToString(out.Instances[0].InstanceId)
	if !a.Detach && !a.Keep {
		defer func() {
			if derr := a.cleanup(ctx, ec, id); derr != nil && err == nil {
				err = derr
			}
		}()
	}
	state, err := a.waitRunning(ctx, ec, id)
	if err != nil || state != ec2types.InstanceStateNameRunning {
		return id, err
	}
	a.logf("instance %s is running\n", id)
	if a.Detach {
		return id, nil
	}
	return id, a.stream(ctx, ec, id)
}

// image finds the AMI by ID or by the name this account gave it.
func (a *AWS) image(ctx context.Context, ec *ec2.Client) (*ec2types.Image, error) {
	in := &ec2.DescribeImagesInput{}
	if amiID.MatchString(a.Image) {
		in.ImageIds = []string{a.Image}
	} else {
		in.Owners = []string{"self"}
		in.Filters = []ec2types.Filter{{Name: aws.String("name"), Values: []string{a.Image}}}
	}
	out, err := ec.DescribeImages(ctx, in)
	if err != nil {
		return nil, a.mapErr(err, "find AMI "+a.Image, "ec2:DescribeImages")
	}
	if len(out.Images) == 0 {
		return nil, &push.Error{Kind: push.NotFound, Msg: fmt.Sprintf("aws: no AMI %s in this account and region: push it with keel push aws, or check --region", a.Image)}
	}
	return &out.Images[0], nil
}

// state is the instance's state, or "" when EC2 no longer knows it.
func (a *AWS) state(ctx context.Context, ec *ec2.Client, id string) (ec2types.InstanceStateName, string, error) {
	out, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		if isCode(err, "InvalidInstanceID.NotFound") {
			return "", "", nil
		}
		return "", "", a.mapErr(err, "read instance "+id, "ec2:DescribeInstances")
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if aws.ToString(in.InstanceId) == id && in.State != nil {
				reason := ""
				if in.StateReason != nil {
					reason = aws.ToString(in.StateReason.Message)
				}
				return in.State.Name, reason, nil
			}
		}
	}
	return "", "", nil
}

// waitRunning waits while the instance is pending; a run that ends
// otherwise (an AMI that cannot boot, capacity) says why.
func (a *AWS) waitRunning(ctx context.Context, ec *ec2.Client, id string) (ec2types.InstanceStateName, error) {
	for {
		st, reason, err := a.state(ctx, ec, id)
		if err != nil {
			return "", err
		}
		switch st {
		case ec2types.InstanceStateNamePending, "":
			// "" too: a new instance can be unknown to DescribeInstances
			// for a moment (eventual consistency).
		case ec2types.InstanceStateNameRunning:
			return st, nil
		default:
			return st, fmt.Errorf("aws: instance %s is %s instead of running: %s", id, st, oneLine(reason))
		}
		select {
		case <-ctx.Done():
			return "", nil
		case <-time.After(a.poll()):
		}
	}
}

// stream copies the console to Console until the instance stops or ctx
// ends. EC2 has no offset for the console: GetConsoleOutput with latest
// answers the newest 64 KiB, so each answer is laid over what was shown
// and only what follows it is written.
func (a *AWS) stream(ctx context.Context, ec *ec2.Client, id string) error {
	console := a.Console
	if console == nil {
		console = io.Discard
	}
	var shown []byte
	latest := true
	for {
		st, _, err := a.state(ctx, ec, id)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		out, err := ec.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(id), Latest: aws.Bool(latest)})
		if latest && isCode(err, "UnsupportedOperation") {
			// Only Nitro instances have the newest output; the others
			// answer the last 64 KiB without it.
			latest = false
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return a.mapErr(err, "read the console of "+id, "ec2:GetConsoleOutput")
		}
		b, err := base64.StdEncoding.DecodeString(aws.ToString(out.Output))
		if err != nil {
			return fmt.Errorf("aws: console of %s: not base64: %w", id, err)
		}
		fresh, lost := newOutput(shown, b)
		if lost {
			io.WriteString(console, "\n[keel: some console output was lost]\n")
		}
		console.Write(fresh)
		if len(b) > 0 {
			shown = b
		}
		if st != ec2types.InstanceStateNamePending && st != ec2types.InstanceStateNameRunning {
			a.logf("instance %s is %s\n", id, stateName(st))
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(a.poll()):
		}
	}
}

func stateName(s ec2types.InstanceStateName) string {
	if s == "" {
		return "gone"
	}
	return string(s)
}

// newOutput is what cur, a window of the console's newest bytes, holds
// beyond prev, the window shown before: the part after the longest end
// of prev that cur starts with. lost is set when the windows do not
// overlap at all (more was written between two looks than a window).
// Output that repeats itself over a whole window can be taken for an
// overlap longer than the real one, losing a part: the API gives no
// offset that would tell.
func newOutput(prev, cur []byte) (fresh []byte, lost bool) {
	if len(prev) == 0 {
		return cur, false
	}
	if len(cur) == 0 {
		return nil, false
	}
	// Try the ends of prev from the longest; the first byte of cur must
	// be where each candidate starts, which keeps this cheap.
	for i := 0; i < len(prev); i++ {
		if prev[i] != cur[0] {
			continue
		}
		tail := prev[i:]
		if len(tail) <= len(cur) && string(cur[:len(tail)]) == string(tail) {
			return cur[len(tail):], false
		}
	}
	return cur, true
}

func (a *AWS) cleanup(ctx context.Context, ec *ec2.Client, id string) error {
	limit := a.CleanupTimeout
	if limit == 0 {
		limit = 2 * time.Minute
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	defer cancel()
	a.logf("terminating instance %s\n", id)
	if err := a.terminate(dctx, ec, id); err != nil && !push.IsKind(err, push.NotFound) {
		return fmt.Errorf("%w (terminate it by hand: keel rm aws %s)", err, id)
	}
	return nil
}

// Delete terminates the instance id (an instance ID, or the Name tag of
// one instance keel run aws made); its root volume goes with it.
func (a *AWS) Delete(ctx context.Context, id string) error {
	ec, _, err := a.client(ctx)
	if err != nil {
		return err
	}
	if !instanceID.MatchString(id) {
		if !awsTag.MatchString(id) {
			return fmt.Errorf("aws: %q is neither an instance ID nor a Name tag", id)
		}
		out, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
			{Name: aws.String("tag:Name"), Values: []string{id}},
			{Name: aws.String("tag:made-by"), Values: []string{"keel"}},
			{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}},
		}})
		if err != nil {
			return a.mapErr(err, "find instance "+id, "ec2:DescribeInstances")
		}
		var ids []string
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				ids = append(ids, aws.ToString(in.InstanceId))
			}
		}
		switch len(ids) {
		case 0:
			return &push.Error{Kind: push.NotFound, Msg: fmt.Sprintf("aws: no instance named %s that keel run aws made in this region", id)}
		case 1:
			id = ids[0]
		default:
			return fmt.Errorf("aws: %d instances are named %s (%s): give the ID of the one to terminate", len(ids), id, strings.Join(ids, ", "))
		}
	}
	return a.terminate(ctx, ec, id)
}

func (a *AWS) terminate(ctx context.Context, ec *ec2.Client, id string) error {
	_, err := ec.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return a.mapErr(err, "terminate instance "+id, "ec2:TerminateInstances")
	}
	return nil
}

func (a *AWS) poll() time.Duration {
	if a.PollInterval == 0 {
		return 5 * time.Second
	}
	return a.PollInterval
}

// mapErr adds the not-found codes of instances, AMIs, key pairs, groups
// and subnets to push's mapping.
func (a *AWS) mapErr(err error, what, perm string) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && strings.HasSuffix(ae.ErrorCode(), ".NotFound") || isCode(err, "InvalidAMIID.Malformed") {
		return &push.Error{Kind: push.NotFound, Msg: fmt.Sprintf("aws: %s: %s: %s", what, ae.ErrorCode(), oneLine(ae.ErrorMessage())), Err: err}
	}
	return push.AWSError(err, what, perm)
}

func clientToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

func (a *AWS) logf(format string, args ...any) {
	if a.Log != nil {
		fmt.Fprintf(a.Log, format, args...)
	}
}

func oneLine(s string) string { return firstLine(strings.TrimSpace(s)) }
