package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/packer/progress"
	"github.com/keel-os/keel/packer/push"
)

func pushAzureCmd(g *globals, stdout, stderr io.Writer) *cobra.Command {
	opt := &push.Azure{}
	var pf pushFlags
	c := &cobra.Command{
		Use:   "azure [flags] NAME.vhd",
		Short: "Upload a vhd image to a storage account as a page blob and create a managed image of it",
		Long: `Upload a vhd image (keel build -format vhd: a fixed VHD, its disk a whole
number of MiB) to a storage account's container as a page blob, in parallel
4 MiB pages without the all-zero ones, then create a managed image of it:
Linux, generalized, Hyper-V generation V1 for an MBR disk and V2 for a GPT
disk with an EFI system partition. An interrupted upload of the same file
is resumed.

Pushing the same file under the same name again does nothing; a different
file under a taken name is an error unless --replace deletes the old image
(after the upload).

Credentials: DefaultAzureCredential (AZURE_TENANT_ID, AZURE_CLIENT_ID and a
secret, certificate or federated token in the environment; workload or
managed identity; az login). AZURE_STORAGE_CONNECTION_STRING, when set, is
used for the upload (an account key, or an emulator such as Azurite).`,
		Args: cobra.ExactArgs(1),
		RunE: pf.runE(g, stdout, stderr, func(r progress.Reporter, log io.Writer) { opt.Progress, opt.Log = r, log }, opt.Push),
	}
	c.Flags().StringVar(&opt.Subscription, "subscription", envOr("", "AZURE_SUBSCRIPTION_ID"), "Azure subscription ID (default: $AZURE_SUBSCRIPTION_ID)")
	c.Flags().StringVar(&opt.ResourceGroup, "resource-group", "", "resource group the image is made in (required)")
	c.Flags().StringVar(&opt.StorageAccount, "storage-account", "", "storage account to upload to (required unless AZURE_STORAGE_CONNECTION_STRING is set)")
	c.Flags().StringVar(&opt.Container, "container", "keel", "blob container in the storage account")
	c.Flags().StringVar(&opt.Location, "location", envOr("", "AZURE_DEFAULTS_LOCATION"), "region of the image, the storage account's (default: $AZURE_DEFAULTS_LOCATION)")
	c.Flags().StringVar(&opt.Name, "name", "", "name of the image and of the blob NAME.vhd (default: the file's name without .vhd)")
	c.Flags().BoolVar(&opt.Replace, "replace", false, "delete an image of the same name first (after the upload)")
	pf.add(c)
	return c
}
