package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/packer/cloudrun"
)

// cloudPoll replaces the providers' poll intervals when set (tests).
var cloudPoll time.Duration

// cloudRunFlags are the flags every provider's run has.
type cloudRunFlags struct {
	data, dataFile string
	sshKeys        []string
	timeout        time.Duration
}

// add adds the flags; sshKeys says whether the provider takes public keys
// with the instance (AWS takes a key pair's name instead).
func (f *cloudRunFlags) add(c *cobra.Command, sshKeys bool) {
	c.Flags().StringVar(&f.data, "data", "", "userdata for the metadata agent (metadata/: written to /run/config/userdata, JSON expanded into /run/config)")
	c.Flags().StringVar(&f.dataFile, "data-file", "", "a file holding the userdata")
	if sshKeys {
		c.Flags().StringArrayVar(&f.sshKeys, "ssh-key", nil, "an OpenSSH public key file whose keys go to /run/config/ssh/authorized_keys (repeatable)")
	}
	c.Flags().DurationVar(&f.timeout, "timeout", 0, "end the run after this long, deleting the instance unless --keep (0: run until it stops or Ctrl-C)")
}

// read returns the userdata and SSH keys of the flags.
func (f *cloudRunFlags) read(limit int) ([]byte, []string, error) {
	data, err := cloudrun.Userdata(f.data, f.dataFile, limit)
	if err != nil {
		return nil, nil, err
	}
	keys, err := cloudrun.SSHKeys(f.sshKeys)
	return data, keys, err
}

// context ends on Ctrl-C or SIGTERM (the run then deletes what it made)
// and after --timeout.
func (f *cloudRunFlags) context(ctx context.Context) (context.Context, func()) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	if f.timeout <= 0 {
		return ctx, stop
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	return ctx, func() { cancel(); stop() }
}

// timedOut is an error when --timeout ended the run: a script must not
// take that for the system's own power-off. Ctrl-C is not an error.
func (f *cloudRunFlags) timedOut(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("the run was ended by --timeout %s", f.timeout)
	}
	return nil
}

func (g *globals) logTo(stderr io.Writer) io.Writer {
	if g.quiet {
		return io.Discard
	}
	return stderr
}

func runGCPCmd(g *globals, stdout, stderr io.Writer) *cobra.Command {
	opt := &cloudrun.GCP{}
	var f cloudRunFlags
	c := &cobra.Command{
		Use:   "gcp [flags] IMAGE",
		Short: "Start a Compute Engine instance of an image keel push gcp made, with its serial console here",
		Long: `Start a Compute Engine instance of IMAGE (an image's name in --project, or
projects/P/global/images/[family/]NAME) and stream its serial console (port
1, read with getSerialPortOutput) to stdout until the instance stops; then,
or on Ctrl-C, the instance and its boot disk are deleted. --keep leaves it;
--detach prints its name and returns at once (delete it with keel rm gcp).

The userdata (--data, --data-file) goes into the instance's metadata as the
user-data attribute and the --ssh-key keys as ssh-keys ("keel:KEY"): the
metadata agent reads both from the metadata server. The instance gets an
external address on the default network.

Credentials: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
gcloud auth application-default login, or the attached service account).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opt.Userdata, opt.SSHKeys, err = f.read(cloudrun.GCPUserdataMax); err != nil {
				return err
			}
			opt.Image, opt.Console, opt.Log = args[0], stdout, g.logTo(stderr)
			opt.PollInterval = cloudPoll
			ctx, stop := f.context(cmd.Context())
			defer stop()
			name, err := opt.Run(ctx)
			if err != nil {
				return err
			}
			if err := f.timedOut(ctx); err != nil {
				return err
			}
			if opt.Detach {
				fmt.Fprintln(stdout, name)
			}
			return nil
		},
	}
	c.Flags().StringVar(&opt.Project, "project", envOr("", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"), "Google Cloud project (default: $GOOGLE_CLOUD_PROJECT, else $CLOUDSDK_CORE_PROJECT)")
	c.Flags().StringVar(&opt.Zone, "zone", envOr("europe-west1-d", "CLOUDSDK_COMPUTE_ZONE"), "zone of the instance ($CLOUDSDK_COMPUTE_ZONE, else europe-west1-d)")
	c.Flags().StringVar(&opt.Machine, "machine", "e2-small", "machine type")
	c.Flags().StringVar(&opt.Name, "name", "", "name of the instance (default: the image's name and a random suffix)")
	c.Flags().Int64Var(&opt.DiskSize, "disk-size", 0, "boot disk size in GB (default: the image's)")
	c.Flags().BoolVar(&opt.NestedVirt, "nested-virt", false, "let the instance run VMs")
	c.Flags().BoolVar(&opt.SecureBoot, "secure-boot", false, "boot with Secure Boot (an image pushed with --secure-boot-cert)")
	c.Flags().BoolVar(&opt.VTPM, "vtpm", false, "give the instance a virtual TPM")
	c.Flags().BoolVar(&opt.Detach, "detach", false, "print the instance's name and return once it runs")
	c.Flags().BoolVar(&opt.Keep, "keep", false, "do not delete the instance when the run ends")
	c.Flags().BoolVar(&opt.Keep, "skip-cleanup", false, "LinuxKit's name for --keep")
	c.Flags().MarkHidden("skip-cleanup")
	f.add(c, true)
	return c
}

func runAWSCmd(g *globals, stdout, stderr io.Writer) *cobra.Command {
	opt := &cloudrun.AWS{}
	var f cloudRunFlags
	c := &cobra.Command{
		Use:   "aws [flags] AMI",
		Short: "Start an EC2 instance of an AMI keel push aws made, with its console here",
		Long: `Start an EC2 instance of AMI (an AMI ID, or the name of an AMI this account
owns: what keel push aws registered) and stream its console (GetConsoleOutput
with the newest output, polled) to stdout until the instance stops; then, or
on Ctrl-C, the instance is terminated and its root volume with it. --keep
leaves it; --detach prints its ID and returns once it runs (terminate it
with keel rm aws ID).

The userdata (--data, --data-file, at most 16 KiB) goes to RunInstances and
the instance metadata service serves it; the key pair --key-name is served
as the instance's public key: the metadata agent reads both. The system's
power-off stops the instance (shutdown behaviour stop) so that the last of
its console can still be read.

Credentials and region: the SDK's default chain (AWS_ACCESS_KEY_ID and
friends, AWS_PROFILE and ~/.aws, SSO, the instance's or task's role).
AWS_ENDPOINT_URL_EC2 points it elsewhere.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opt.Userdata, _, err = f.read(cloudrun.AWSUserdataMax); err != nil {
				return err
			}
			opt.Image, opt.Console, opt.Log = args[0], stdout, g.logTo(stderr)
			opt.PollInterval = cloudPoll
			ctx, stop := f.context(cmd.Context())
			defer stop()
			id, err := opt.Run(ctx)
			if err != nil {
				return err
			}
			if err := f.timedOut(ctx); err != nil {
				return err
			}
			if opt.Detach {
				fmt.Fprintln(stdout, id)
			}
			return nil
		},
	}
	c.Flags().StringVar(&opt.Region, "region", "", "AWS region (default: $AWS_REGION, else the profile's)")
	c.Flags().StringVar(&opt.Machine, "machine", "t3.micro", "instance type")
	c.Flags().StringVar(&opt.Zone, "zone", "", "availability zone, or its letter (default: EC2's choice, or the subnet's)")
	c.Flags().StringVar(&opt.Name, "name", "", "the instance's Name tag (default: the AMI's name and a random suffix)")
	c.Flags().Int32Var(&opt.DiskSize, "disk-size", 0, "root volume size in GiB (default: the AMI's)")
	c.Flags().StringVar(&opt.DiskType, "disk-type", "", "root volume type (default: gp3 when --disk-size is given, else the AMI's)")
	c.Flags().StringVar(&opt.KeyName, "key-name", "", "EC2 key pair whose public key the system gets for SSH")
	c.Flags().StringArrayVar(&opt.SecurityGroups, "security-group", nil, "security group ID (repeatable; default: the VPC's default group)")
	c.Flags().StringVar(&opt.Subnet, "subnet", "", "subnet ID (default: the default VPC's)")
	c.Flags().BoolVar(&opt.Detach, "detach", false, "print the instance's ID and return once it runs")
	c.Flags().BoolVar(&opt.Keep, "keep", false, "do not terminate the instance when the run ends")
	f.add(c, false)
	return c
}

// rmCmd deletes what keel run PROVIDER made.
func rmCmd(g *globals, stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "rm PROVIDER NAME",
		Short: "Delete an instance that keel run PROVIDER --detach or --keep left running",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return fmt.Errorf("unknown provider %q: keel rm has aws, azure and gcp", args[0])
		},
	}
	opt := &cloudrun.GCP{}
	gc := &cobra.Command{
		Use:   "gcp [flags] NAME",
		Short: "Delete a Compute Engine instance and its boot disk",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opt.Delete(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.logTo(stderr), "deleted instance %s\n", args[0])
			return nil
		},
	}
	gc.Flags().StringVar(&opt.Project, "project", envOr("", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"), "Google Cloud project (default: $GOOGLE_CLOUD_PROJECT, else $CLOUDSDK_CORE_PROJECT)")
	gc.Flags().StringVar(&opt.Zone, "zone", envOr("europe-west1-d", "CLOUDSDK_COMPUTE_ZONE"), "zone of the instance ($CLOUDSDK_COMPUTE_ZONE, else europe-west1-d)")
	aopt := &cloudrun.AWS{}
	ac := &cobra.Command{
		Use:   "aws [flags] ID|NAME",
		Short: "Terminate an EC2 instance (by ID, or by the Name tag keel run aws gave it) and its root volume",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := aopt.Delete(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.logTo(stderr), "terminating instance %s\n", args[0])
			return nil
		},
	}
	ac.Flags().StringVar(&aopt.Region, "region", "", "AWS region (default: $AWS_REGION, else the profile's)")
	c.AddCommand(ac, rmAzureCmd(g, stderr), gc)
	return c
}
