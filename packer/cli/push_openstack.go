package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/packer/progress"
	"github.com/keel-os/keel/packer/push"
)

func pushOpenStackCmd(g *globals, stdout, stderr io.Writer) *cobra.Command {
	opt := &push.OpenStack{}
	var pf pushFlags
	c := &cobra.Command{
		Use:   "openstack [flags] IMAGE",
		Short: "Upload a qcow2 or raw image into an OpenStack cloud's image service (Glance)",
		Long: `Upload a disk image (keel build -format qcow2-bios, qcow2-efi, raw-bios or
raw-efi; qcow2 or raw by the file's contents; a fixed VHD as vhd) into Glance: create the image
(container bare; os_type linux, architecture, and hw_firmware_type=uefi for a
GPT disk with an EFI system partition), upload the file and wait for the
image to be active.

Pushing the same file under the same name again does nothing; a different
file under a taken name is an error unless --replace, which deletes the
project's old images of that name once the new one is active.

Credentials: OS_CLOUD naming a cloud in clouds.yaml (./, ~/.config/openstack/,
/etc/openstack/ or OS_CLIENT_CONFIG_FILE), else an openrc file's OS_*
variables (a password or an application credential).`,
		Args: cobra.ExactArgs(1),
		RunE: pf.runE(g, stdout, stderr, func(r progress.Reporter, log io.Writer) { opt.Progress, opt.Log = r, log }, opt.Push),
	}
	c.Flags().StringVar(&opt.Region, "region", "", "region (default: $OS_REGION_NAME, else the cloud's in clouds.yaml)")
	c.Flags().StringVar(&opt.Name, "name", "", "name of the image (default: the file's name without its extension)")
	c.Flags().StringVar(&opt.Name, "img-name", "", "LinuxKit's name for --name")
	c.Flags().MarkHidden("img-name")
	c.Flags().BoolVar(&opt.Replace, "replace", false, "delete the project's images of the same name once the new one is active")
	c.Flags().StringVar(&opt.Arch, "arch", "x86_64", "the image's architecture property: x86_64 or aarch64")
	c.Flags().StringVar(&opt.Visibility, "visibility", "private", "private, shared, community or public")
	pf.add(c)
	return c
}
