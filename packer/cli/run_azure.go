package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/packer/cloudrun"
)

// azureTest, when set, adjusts a run's or rm's options before they are
// used: tests point them at a local ARM.
var azureTest func(*cloudrun.Azure)

func runAzureCmd(g *globals, stdout, stderr io.Writer) *cobra.Command {
	opt := &cloudrun.Azure{}
	var f cloudRunFlags
	c := &cobra.Command{
		Use:   "azure [flags] IMAGE",
		Short: "Start an Azure VM of a managed image keel push azure made, with its serial log here",
		Long: `Start an Azure virtual machine of IMAGE (a managed image's name in
--resource-group, or its resource ID) and stream its serial log (boot
diagnostics, read from the blob retrieveBootDiagnosticsData names) to stdout
until the VM stops; then, or on Ctrl-C, everything the run made is deleted:
the VM, its network interface NAME-nic, its public IP address NAME-ip, its OS
disk NAME-osdisk, and the virtual network if the run made it. --keep leaves
them; --detach prints the VM's name and returns once it runs (delete it with
keel rm azure NAME). Each of them carries the tag keel-run=NAME, and keel rm
deletes only what does.

The VM is attached to --subnet of --vnet, which is used when it is there and
made otherwise (10.0.0.0/16, the subnet 10.0.0.0/24). Its public address is a
Standard one: closed to inbound traffic unless a network security group on
the subnet opens it.

The userdata (--data, --data-file, at most 48 KiB) goes into the VM's
userData and the --ssh-key keys into its Linux configuration (for the user
keel): the instance metadata service serves them as compute/userData and
compute.publicKeys, and the metadata agent reads both. Azure waits for the
system to report ready, which the metadata agent does: an image without it
fails to start after Azure's provisioning timeout.

Credentials: DefaultAzureCredential (AZURE_TENANT_ID, AZURE_CLIENT_ID and a
secret, certificate or federated token in the environment; workload or
managed identity; az login).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opt.Userdata, opt.SSHKeys, err = f.read(cloudrun.AzureUserdataMax); err != nil {
				return err
			}
			opt.Image, opt.Console, opt.Log = args[0], stdout, g.logTo(stderr)
			opt.PollInterval = cloudPoll
			if azureTest != nil {
				azureTest(opt)
			}
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
	azureScopeFlags(c, opt)
	c.Flags().StringVar(&opt.Location, "location", envOr("", "AZURE_DEFAULTS_LOCATION"), "region of the VM (default: $AZURE_DEFAULTS_LOCATION, else the image's)")
	c.Flags().StringVar(&opt.Size, "size", "Standard_B1s", "VM size")
	c.Flags().StringVar(&opt.Name, "name", "", "name of the VM (default: the image's name and a random suffix)")
	c.Flags().Int32Var(&opt.DiskSize, "disk-size", 0, "OS disk size in GiB (default: the image's)")
	c.Flags().StringVar(&opt.Subnet, "subnet", "default", "subnet of --vnet the VM is attached to")
	c.Flags().BoolVar(&opt.Detach, "detach", false, "print the VM's name and return once it runs")
	c.Flags().BoolVar(&opt.Keep, "keep", false, "do not delete what the run made when it ends")
	f.add(c, true)
	return c
}

// azureScopeFlags are the flags keel run azure and keel rm azure share.
func azureScopeFlags(c *cobra.Command, opt *cloudrun.Azure) {
	c.Flags().StringVar(&opt.Subscription, "subscription", envOr("", "AZURE_SUBSCRIPTION_ID"), "Azure subscription ID (default: $AZURE_SUBSCRIPTION_ID)")
	c.Flags().StringVar(&opt.ResourceGroup, "resource-group", envOr("", "AZURE_DEFAULTS_GROUP"), "resource group of the image and the VM (default: $AZURE_DEFAULTS_GROUP)")
	c.Flags().StringVar(&opt.VNet, "vnet", "keel-vnet", "virtual network the VM is attached to (made when it is not there)")
}

func rmAzureCmd(g *globals, stderr io.Writer) *cobra.Command {
	opt := &cloudrun.Azure{}
	c := &cobra.Command{
		Use:   "azure [flags] NAME",
		Short: "Delete an Azure VM keel run azure made, its interface, address and OS disk (by the keel-run tag)",
		Long: `Delete what keel run azure made for the VM NAME, in order: the VM, its
network interface NAME-nic, its public IP address NAME-ip, its OS disk
NAME-osdisk, then --vnet if that run made it and no other interface is in it.
Only resources tagged keel-run=NAME are deleted; a VM of that name without the
tag is refused. Running it again after an interruption deletes the rest.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt.Log = g.logTo(stderr)
			opt.PollInterval = cloudPoll
			if azureTest != nil {
				azureTest(opt)
			}
			if err := opt.Delete(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.logTo(stderr), "deleted VM %s\n", args[0])
			return nil
		},
	}
	azureScopeFlags(c, opt)
	return c
}
