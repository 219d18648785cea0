package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/packer/progress"
	"github.com/keel-os/keel/packer/push"
)

func pushVCenterCmd(g *globals, stdout, stderr io.Writer) *cobra.Command {
	opt := &push.VCenter{}
	var pf pushFlags
	c := &cobra.Command{
		Use:   "vcenter [flags] IMAGE",
		Short: "Upload an image (an ISO) to a folder of a vSphere datastore",
		Long: `Upload an image (keel build -format iso-bios or iso-efi; any file a VM can
boot from) into a folder of a vSphere datastore, through vCenter or a lone ESXi
host, where a VM's CD drive can then use it.

Pushing the same file under the same name again does nothing (the sha256 is
kept beside the image as NAME.sha256); a different file under a taken name
is an error unless --replace overwrites it.

Credentials: the URL's USER:PASSWORD@ (--url or GOVC_URL), else
GOVC_USERNAME and GOVC_PASSWORD; never a password flag. The server's TLS
certificate is checked against the system's trust store unless --insecure.`,
		Args: cobra.ExactArgs(1),
		RunE: pf.runE(g, stdout, stderr, func(r progress.Reporter, log io.Writer) { opt.Progress, opt.Log = r, log }, opt.Push),
	}
	// Not envOr: the help would print a default holding the password.
	c.Flags().StringVar(&opt.URL, "url", "", "SDK URL, https://[USER@]HOST/sdk (default: $GOVC_URL, else $VCURL)")
	c.Flags().StringVar(&opt.Datacenter, "datacenter", envOr("", "GOVC_DATACENTER", "VCDATACENTER"), "datacenter (default: $GOVC_DATACENTER, else the only one)")
	c.Flags().StringVar(&opt.Datastore, "datastore", envOr("", "GOVC_DATASTORE", "VCDATASTORE"), "datastore to upload to (default: $GOVC_DATASTORE, else the only one)")
	c.Flags().StringVar(&opt.Host, "hostname", envOr("", "VCHOST"), "ESXi host to send the bytes through (default: vCenter itself)")
	c.Flags().StringVar(&opt.Folder, "folder", "keel", "folder in the datastore, created when missing")
	c.Flags().StringVar(&opt.Name, "name", "", "file name in the folder (default: the image's file name)")
	c.Flags().BoolVar(&opt.Replace, "replace", false, "overwrite a file of that name that holds other bytes")
	c.Flags().BoolVar(&opt.Insecure, "insecure", false, "do not check the server's TLS certificate (a lab vCenter with a self-signed one)")
	pf.add(c)
	return c
}
