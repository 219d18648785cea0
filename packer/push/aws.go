package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/keel-os/keel/packer/progress"
)

// AWS pushes an aws image (-format aws, a raw disk) to Amazon EC2: the
// file goes to an S3 bucket by a multipart upload, EC2 imports it as an
// EBS snapshot (ImportSnapshot, through the vmimport service role) and
// registers an AMI of the snapshot. Credentials and region come from the
// SDK's default chain (AWS_* variables, ~/.aws profiles, SSO, the
// instance's or task's role); AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_EC2
// point it elsewhere.
type AWS struct {
	// Region; default: the SDK's (AWS_REGION, the profile's).
	Region string
	Bucket string
	// Name of the AMI and of the object (NAME.raw); default: the file's
	// name without its extension.
	Name string
	// Replace deregisters an AMI of the same name (owned by this account)
	// first; without it a name taken by another AMI is an error.
	Replace bool
	// Arch is the AMI's architecture: x86_64 (default) or arm64.
	Arch string

	Progress progress.Reporter
	// Log receives a line per step; nil: nothing.
	Log io.Writer

	// S3Options and EC2Options reach the SDK clients (tests: path-style
	// addressing, quick retries).
	S3Options  []func(*s3.Options)
	EC2Options []func(*ec2.Options)
	// PartSize of the multipart upload (default 16 MiB, at least 5 MiB);
	// PollInterval between looks at the import (default 15 s).
	PartSize     int64
	PollInterval time.Duration
}

// amiName is what EC2 takes as an AMI name.
var amiName = regexp.MustCompile(`^[a-zA-Z0-9()\[\] ./'@_-]{3,128}$`)

// Push uploads the raw image at path and registers the AMI.
func (a *AWS) Push(ctx context.Context, path string) (*Result, error) {
	if a.Bucket == "" {
		return nil, errors.New("aws: no bucket: give --bucket, an S3 bucket the image is uploaded to")
	}
	name := a.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if !amiName.MatchString(name) {
		return nil, fmt.Errorf("aws: AMI name %q is not valid (3 to 128 of letters, digits, ( ) [ ] space . / - ' @ _): give --name", name)
	}
	arch := ec2types.ArchitectureValuesX8664
	switch a.Arch {
	case "", "x86_64", "amd64":
	case "arm64":
		arch = ec2types.ArchitectureValuesArm64
	default:
		return nil, fmt.Errorf("aws: --arch %q: give x86_64 or arm64", a.Arch)
	}
	mode, err := rawBootMode(path)
	if err != nil {
		return nil, fmt.Errorf("aws: %w", err)
	}
	digest, size, err := fileDigest(path)
	if err != nil {
		return nil, fmt.Errorf("aws: %w", err)
	}
	key := name + ".raw"
	res := &Result{Provider: "aws", Name: name, Digest: digest, Object: "s3://" + a.Bucket + "/" + key, BootMode: string(mode)}

	var load []func(*config.LoadOptions) error
	if a.Region != "" {
		load = append(load, config.WithRegion(a.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("aws: load the SDK's configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("aws: no region: give --region or set AWS_REGION (or a region in the profile)")
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, &Error{Kind: NoCredentials, Msg: "aws: no credentials: run `aws configure` or `aws sso login`, set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with an instance or task role", Err: err}
	}
	ec := ec2.NewFromConfig(cfg, a.EC2Options...)

	old, err := a.findImage(ctx, ec, name)
	if err != nil {
		return nil, err
	}
	desc := description(digest)
	if old != nil {
		switch {
		case aws.ToString(old.Description) == desc && !a.Replace:
			a.logf("AMI %s (%s) already holds %s: nothing to push\n", name, aws.ToString(old.ImageId), digest)
			res.ID, res.Reused = aws.ToString(old.ImageId), true
			return res, nil
		case !a.Replace:
			return nil, &Error{Kind: Conflict, Msg: fmt.Sprintf("aws: AMI %s already exists (%s) in %s with other contents: give --replace to deregister it and register the new one, or another --name", name, aws.ToString(old.ImageId), cfg.Region)}
		}
	}

	if err := a.upload(ctx, s3.NewFromConfig(cfg, a.S3Options...), path, key, digest, size); err != nil {
		return nil, err
	}
	snap, err := a.importSnapshot(ctx, ec, name, key, desc)
	if err != nil {
		return nil, err
	}
	if old != nil {
		a.logf("deregistering AMI %s (--replace)\n", aws.ToString(old.ImageId))
		if _, err := ec.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: old.ImageId}); err != nil {
			return nil, a.mapErr(err, "deregister AMI "+aws.ToString(old.ImageId), "ec2:DeregisterImage")
		}
	}
	boot := ec2types.BootModeValuesLegacyBios
	if mode == UEFI {
		boot = ec2types.BootModeValuesUefi
	}
	a.logf("registering AMI %s (%s)\n", name, boot)
	out, err := ec.RegisterImage(ctx, &ec2.RegisterImageInput{
		Name:               aws.String(name),
		Description:        aws.String(desc),
		Architecture:       arch,
		BootMode:           boot,
		VirtualizationType: aws.String("hvm"),
		RootDeviceName:     aws.String("/dev/xvda"),
		// Debian's cloud kernel drives ENA and NVMe; every current
		// instance type wants both.
		EnaSupport:      aws.Bool(true),
		SriovNetSupport: aws.String("simple"),
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{
			DeviceName: aws.String("/dev/xvda"),
			Ebs: &ec2types.EbsBlockDevice{
				SnapshotId:          aws.String(snap),
				DeleteOnTermination: aws.Bool(true),
				VolumeType:          ec2types.VolumeTypeGp3,
			},
		}},
	})
	if err != nil {
		return nil, a.mapErr(err, "register AMI "+name, "ec2:RegisterImage")
	}
	res.ID = aws.ToString(out.ImageId)
	return res, nil
}

func (a *AWS) logf(format string, args ...any) {
	if a.Log != nil {
		fmt.Fprintf(a.Log, format, args...)
	}
}

// findImage returns this account's AMI of that name, or nil.
func (a *AWS) findImage(ctx context.Context, ec *ec2.Client, name string) (*ec2types.Image, error) {
	out, err := ec.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("name"), Values: []string{name}}},
	})
	if err != nil {
		return nil, a.mapErr(err, "look for AMI "+name, "ec2:DescribeImages")
	}
	if len(out.Images) == 0 {
		return nil, nil
	}
	return &out.Images[0], nil
}

// upload sends the file to S3 in parts: a failed part is sent again, not
// the whole file.
func (a *AWS) upload(ctx context.Context, client *s3.Client, path, key, digest string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("aws: %w", err)
	}
	defer f.Close()
	part := a.PartSize
	if part == 0 {
		part = 16 << 20
	}
	up := manager.NewUploader(client, func(u *manager.Uploader) { u.PartSize = part })
	where := "s3://" + a.Bucket + "/" + key
	task := progress.Or(a.Progress).Start(progress.Upload, where, size)
	_, err = up.Upload(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(a.Bucket),
		Key:         aws.String(key),
		Body:        &countingReader{r: f, task: task},
		ContentType: aws.String("application/octet-stream"),
		Metadata:    map[string]string{"keel-digest": digest},
	})
	task.Done(err)
	if err != nil {
		return a.mapErr(err, "upload to "+where, "s3:PutObject on "+a.Bucket)
	}
	progress.Or(a.Progress).Step(progress.Step{Kind: progress.Upload, Name: where, Size: size})
	return nil
}

// importSnapshot has EC2 make an EBS snapshot of the object and waits for
// it; it returns the snapshot's ID.
func (a *AWS) importSnapshot(ctx context.Context, ec *ec2.Client, name, key, desc string) (string, error) {
	a.logf("importing s3://%s/%s as a snapshot\n", a.Bucket, key)
	out, err := ec.ImportSnapshot(ctx, &ec2.ImportSnapshotInput{
		Description: aws.String(desc),
		DiskContainer: &ec2types.SnapshotDiskContainer{
			Description: aws.String(name),
			Format:      aws.String("raw"),
			UserBucket:  &ec2types.UserBucket{S3Bucket: aws.String(a.Bucket), S3Key: aws.String(key)},
		},
	})
	if err != nil {
		return "", a.mapErr(err, "import snapshot", "ec2:ImportSnapshot")
	}
	task := aws.ToString(out.ImportTaskId)
	poll := a.PollInterval
	if poll == 0 {
		poll = 15 * time.Second
	}
	for {
		st, err := ec.DescribeImportSnapshotTasks(ctx, &ec2.DescribeImportSnapshotTasksInput{ImportTaskIds: []string{task}})
		if err != nil {
			return "", a.mapErr(err, "wait for import "+task, "ec2:DescribeImportSnapshotTasks")
		}
		if len(st.ImportSnapshotTasks) == 0 || st.ImportSnapshotTasks[0].SnapshotTaskDetail == nil {
			return "", fmt.Errorf("aws: import %s: EC2 no longer knows the task", task)
		}
		d := st.ImportSnapshotTasks[0].SnapshotTaskDetail
		switch aws.ToString(d.Status) {
		case "completed":
			if aws.ToString(d.SnapshotId) == "" {
				return "", fmt.Errorf("aws: import %s completed without a snapshot", task)
			}
			return aws.ToString(d.SnapshotId), nil
		case "deleted", "deleting":
			return "", a.importErr(task, oneLine(aws.ToString(d.StatusMessage)))
		}
		a.logf("import %s: %s %s%%\n", task, aws.ToString(d.Status), aws.ToString(d.Progress))
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("aws: import %s: %w (it goes on in EC2: aws ec2 cancel-import-task --import-task-id %s)", task, ctx.Err(), task)
		case <-time.After(poll):
		}
	}
}

// importErr explains a failed import; the usual cause is the vmimport
// service role.
func (a *AWS) importErr(task, msg string) error {
	if strings.Contains(msg, "vmimport") || strings.Contains(strings.ToLower(msg), "role") {
		return &Error{Kind: Denied, Msg: fmt.Sprintf("aws: import %s failed: the vmimport service role is missing or cannot read s3://%s (create it as docs/clouds.md says): %s", task, a.Bucket, msg)}
	}
	return fmt.Errorf("aws: import %s failed: %s", task, msg)
}

// mapErr turns an SDK error into one line naming what to fix.
func (a *AWS) mapErr(err error, what, perm string) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("aws: %s: %w", what, err)
	}
	code, msg := ae.ErrorCode(), oneLine(ae.ErrorMessage())
	switch {
	case code == "AuthFailure" || code == "InvalidClientTokenId" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || strings.HasPrefix(code, "ExpiredToken") || code == "UnrecognizedClientException":
		return &Error{Kind: NoCredentials, Msg: fmt.Sprintf("aws: %s: the credentials were refused (%s): renew them (aws sso login, aws configure) or check AWS_PROFILE", what, code), Err: err}
	case code == "UnauthorizedOperation" || code == "AccessDenied" || code == "Forbidden":
		return &Error{Kind: Denied, Msg: fmt.Sprintf("aws: %s: permission denied: the credentials need %s (%s)", what, perm, code), Err: err}
	case code == "InvalidParameter" && strings.Contains(msg, "vmimport"):
		return &Error{Kind: Denied, Msg: fmt.Sprintf("aws: %s: the vmimport service role is missing or cannot read s3://%s (create it as docs/clouds.md says): %s", what, a.Bucket, msg), Err: err}
	case strings.Contains(code, "LimitExceeded") || strings.Contains(code, "QuotaExceeded") || code == "Throttling" || code == "RequestLimitExceeded":
		return &Error{Kind: Quota, Msg: fmt.Sprintf("aws: %s: quota exceeded (%s: %s): raise it in the Service Quotas console or try later", what, code, msg), Err: err}
	case strings.HasSuffix(code, ".Duplicate"):
		return &Error{Kind: Conflict, Msg: fmt.Sprintf("aws: %s: the name is taken (%s): give --replace or another --name", what, code), Err: err}
	case code == "NoSuchBucket":
		return &Error{Kind: NotFound, Msg: fmt.Sprintf("aws: %s: bucket %s does not exist: create it (aws s3 mb s3://%s) or give another --bucket", what, a.Bucket, a.Bucket), Err: err}
	}
	return fmt.Errorf("aws: %s: %s: %s", what, code, msg)
}

// AWSError maps an error of an EC2 call to one line naming what to fix,
// as Push does (an *Error where a user can fix it); perm is the IAM
// action the call needs. keel run aws shares it.
func AWSError(err error, what, perm string) error {
	return (&AWS{}).mapErr(err, what, perm)
}
