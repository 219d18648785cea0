package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/packer/cloudrun"
)

// cloudRunFlags are the flags every provider's run has.
type cloudRunFlags struct {
	data, dataFile string
	sshKeys        []string
	timeout        time.Duration
}

func (f *cloudRunFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.data, "data", "", "userdata for the metadata agent (metadata/: written to /run/config/userdata, JSON expanded into /run/config)")
	c.Flags().StringVar(&f.dataFile, "data-file", "", "a file holding the userdata")
	c.Flags().StringArrayVar(&f.sshKeys, "ssh-key", nil, "an OpenSSH public key file whose keys go to /run/config/ssh/authorized_keys (repeatable)")
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
			ctx, stop := f.context(cmd.Context())
			defer stop()
			name, err := opt.Run(ctx)
			if err != nil {
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
	f.add(c)
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
			return fmt.Errorf("unknown provider %q: keel rm has gcp", args[0])
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
	c.AddCommand(gc)
	return c
}
