package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/packer/progress"
	"github.com/keel-os/keel/packer/push"
)

func pushCmd(g *globals, stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "push PROVIDER IMAGE",
		Short: "Upload a built image to a cloud and register it there as a bootable image",
		Long: `Upload a built image to a cloud and register it there as a bootable image:
keel push gcp NAME.img.tar.gz (-format gcp), keel push aws NAME.raw (-format aws),
keel push azure NAME.vhd (-format vhd), keel push openstack NAME.qcow2 (-format
qcow2-bios or qcow2-efi; raw-bios and raw-efi too), keel push vcenter NAME.iso
(-format iso-bios or iso-efi, into a datastore folder).
Credentials come from each cloud's standard chain (environment, profile or
login, the workload's own identity), never from flags. The result (image
name, ID and the sha256 of what was uploaded) goes to stdout, as JSON with
--json; progress goes to stderr. See docs/clouds.md for the one-time setup.`,
		// Without this, cobra prints the help and exits 0 for a provider
		// it does not know.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return fmt.Errorf("unknown provider %q: keel push has aws, azure, gcp, openstack and vcenter (others are not done yet: see docs/clouds.md)", args[0])
		},
	}
	c.AddCommand(pushAWSCmd(g, stdout, stderr), pushAzureCmd(g, stdout, stderr), pushGCPCmd(g, stdout, stderr), pushOpenStackCmd(g, stdout, stderr), pushVCenterCmd(g, stdout, stderr))
	return c
}

// pushFlags are the flags every provider's push has.
type pushFlags struct {
	json    bool
	timeout time.Duration
}

func (p *pushFlags) add(c *cobra.Command) {
	c.Flags().BoolVar(&p.json, "json", false, "print the result as JSON: provider, name, id, digest, object, bootMode, reused")
	c.Flags().DurationVar(&p.timeout, "timeout", 30*time.Minute, "give up after this long (upload, import and registration together)")
}

// runE is every push subcommand's handler: set wires the progress
// reporter and log into the provider's options, then file (the one
// argument) is pushed.
func (p *pushFlags) runE(g *globals, stdout, stderr io.Writer, set func(progress.Reporter, io.Writer), do func(ctx context.Context, file string) (*push.Result, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		rep, log, done := g.reporter(stderr)
		defer done()
		set(rep, log)
		return p.run(cmd.Context(), stdout, func(ctx context.Context) (*push.Result, error) {
			return do(ctx, args[0])
		})
	}
}

// run calls push with the timeout and prints its result.
func (p *pushFlags) run(ctx context.Context, stdout io.Writer, push func(context.Context) (*push.Result, error)) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	res, err := push(ctx)
	if err != nil {
		return err
	}
	return printPush(stdout, res, p.json)
}

func printPush(w io.Writer, res *push.Result, asJSON bool) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(res)
	}
	verb := "pushed"
	if res.Reused {
		verb = "already there"
	}
	mode := ""
	if res.BootMode != "" {
		mode = " (" + res.BootMode + ")"
	}
	_, err := fmt.Fprintf(w, "%s: %s image %s%s\nid:     %s\ndigest: %s\nobject: %s\n", verb, res.Provider, res.Name, mode, res.ID, res.Digest, res.Object)
	return err
}

// envOr is the first non-empty environment variable of names, else def.
func envOr(def string, names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return def
}

func pushGCPCmd(g *globals, stdout, stderr io.Writer) *cobra.Command {
	opt := &push.GCP{}
	var pf pushFlags
	c := &cobra.Command{
		Use:   "gcp [flags] NAME.img.tar.gz",
		Short: "Upload a gcp image to Cloud Storage and create a Compute Engine image of it",
		Long: `Upload a gcp image (keel build -format gcp) to a Cloud Storage bucket with a
resumable upload, then create a Compute Engine image from it. An image built
from a GPT disk with an EFI system partition is marked UEFI_COMPATIBLE;
--secure-boot-cert adds SECURE_BOOT with that certificate in the image's
Secure Boot db.

Pushing the same file under the same name again does nothing; a different
file under a taken name is an error unless --replace deletes the old image.

Credentials: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
gcloud auth application-default login, or the attached service account).
STORAGE_EMULATOR_HOST points the upload at an emulator.`,
		Args: cobra.ExactArgs(1),
		RunE: pf.runE(g, stdout, stderr, func(r progress.Reporter, log io.Writer) { opt.Progress, opt.Log = r, log }, opt.Push),
	}
	c.Flags().StringVar(&opt.Project, "project", envOr("", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"), "Google Cloud project (default: $GOOGLE_CLOUD_PROJECT, else $CLOUDSDK_CORE_PROJECT)")
	c.Flags().StringVar(&opt.Bucket, "bucket", "", "Cloud Storage bucket to upload to (required)")
	c.Flags().StringVar(&opt.Name, "name", "", "name of the image and of the object NAME.img.tar.gz (default: the file's name without .img.tar.gz)")
	c.Flags().StringVar(&opt.Name, "img-name", "", "LinuxKit's name for --name")
	c.Flags().MarkHidden("img-name")
	c.Flags().StringVar(&opt.Family, "family", "", "image family: the family's name then stands for its newest image")
	c.Flags().BoolVar(&opt.Replace, "replace", false, "delete an image of the same name first (after the upload)")
	c.Flags().BoolVar(&opt.NestedVirt, "nested-virt", false, "let instances of the image run VMs (the enable-vmx license)")
	c.Flags().StringVar(&opt.SecureBootCert, "secure-boot-cert", "", "PEM certificate the image's UKI was signed with (keel build --sign-cert): marks the image SECURE_BOOT with it as the Secure Boot db (UEFI images only)")
	pf.add(c)
	return c
}

func pushAWSCmd(g *globals, stdout, stderr io.Writer) *cobra.Command {
	opt := &push.AWS{}
	var pf pushFlags
	c := &cobra.Command{
		Use:   "aws [flags] NAME.raw",
		Short: "Upload an aws image to S3, import it as an EBS snapshot and register an AMI",
		Long: `Upload an aws image (keel build -format aws, a raw disk) to an S3 bucket with
a multipart upload, have EC2 import it as an EBS snapshot (ImportSnapshot,
which needs the vmimport service role: see docs/clouds.md), and register an
AMI of it: hvm, ENA and SR-IOV enabled, gp3 root volume, boot mode
legacy-bios for an MBR disk and uefi for a GPT disk with an EFI system
partition.

Pushing the same file under the same name again does nothing; a different
file under a taken name is an error unless --replace deregisters the old AMI
(after the new snapshot is imported).

Credentials and region: the SDK's default chain (AWS_ACCESS_KEY_ID and
friends, AWS_PROFILE and ~/.aws, SSO, the instance's or task's role).
AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_EC2 point it elsewhere.`,
		Args: cobra.ExactArgs(1),
		RunE: pf.runE(g, stdout, stderr, func(r progress.Reporter, log io.Writer) { opt.Progress, opt.Log = r, log }, opt.Push),
	}
	c.Flags().StringVar(&opt.Region, "region", "", "AWS region (default: $AWS_REGION, else the profile's)")
	c.Flags().StringVar(&opt.Bucket, "bucket", "", "S3 bucket to upload to, in that region (required)")
	c.Flags().StringVar(&opt.Name, "name", "", "name of the AMI and of the object NAME.raw (default: the file's name without its extension)")
	c.Flags().StringVar(&opt.Name, "img-name", "", "LinuxKit's name for --name")
	c.Flags().MarkHidden("img-name")
	c.Flags().BoolVar(&opt.Replace, "replace", false, "deregister this account's AMI of the same name first (after the import)")
	c.Flags().StringVar(&opt.Arch, "arch", "x86_64", "architecture of the AMI: x86_64 or arm64")
	pf.add(c)
	return c
}
