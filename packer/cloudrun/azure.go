package cloudrun

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	"github.com/keel-os/keel/packer/push"
)

// AzureUserdataMax is the userdata a VM takes: Azure bounds the base64
// text of userData at 64 KiB.
const AzureUserdataMax = 48 << 10

// AzureRunTag is the tag on everything keel run azure creates, its value the
// VM's name: keel rm azure deletes only what carries it.
const AzureRunTag = "keel-run"

// Azure runs a virtual machine of a managed image (what keel push azure
// made) in a resource group: a public IP address and a network interface
// in a virtual network's subnet (the network made when it is not there),
// then the VM with boot diagnostics on, whose serial log is streamed. The
// userdata goes into the VM's userData and the SSH keys into its Linux
// configuration: the instance metadata service serves them as
// compute/userData and compute.publicKeys, which metadata/azure.go reads.
// Credentials come from DefaultAzureCredential.
type Azure struct {
	Subscription  string
	ResourceGroup string
	// Location of the VM; default: the image's.
	Location string
	// Image is a managed image's name in ResourceGroup or its resource ID
	// (/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/images/N).
	Image string
	// Name of the VM, and the stem of its parts' names (NAME-nic, NAME-ip,
	// NAME-osdisk); default: the image's name and a random suffix.
	Name string
	// Size is the VM size, e.g. Standard_B1s.
	Size string
	// DiskSize of the OS disk in GiB; 0: the image's.
	DiskSize int32
	// VNet and Subnet the VM is attached to: reused when the network is
	// there, else made (10.0.0.0/16 with the subnet 10.0.0.0/24) and
	// tagged so that keel rm deletes it with the VM.
	VNet, Subnet string
	Userdata     []byte
	SSHKeys      []string
	// Detach returns once the VM runs; otherwise Run streams its serial
	// log until it stops or ctx ends, then deletes what the run made
	// unless Keep.
	Detach, Keep bool

	// Console receives the serial log; Log a line per step.
	Console, Log io.Writer

	// Credential replaces DefaultAzureCredential; ARMOptions reach the
	// SDK clients; HTTPClient reads the serial log blob (tests).
	Credential azcore.TokenCredential
	ARMOptions *arm.ClientOptions
	HTTPClient *http.Client
	// PollInterval between looks at operations and at the serial log
	// (default 5 s); CleanupTimeout bounds the deletion after ctx ended
	// (default 10 min).
	PollInterval, CleanupTimeout time.Duration
}

var (
	// azureVMName is a Linux VM's name, which is also its computer name.
	azureVMName = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,56}[a-zA-Z0-9])?$`)
	azureImage  = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,78}[a-zA-Z0-9_])?$`)
	azureImgID  = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/images/[a-zA-Z0-9._-]{1,80}$`)
	azureSize   = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
	azureNet    = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,62}[a-zA-Z0-9_])?$`)
)

func (a *Azure) check() error {
	switch {
	case a.Subscription == "":
		return errors.New("azure: no subscription: give --subscription or set AZURE_SUBSCRIPTION_ID")
	case a.ResourceGroup == "":
		return errors.New("azure: no resource group: give --resource-group, the group of the image and of the VM")
	case !azureImage.MatchString(a.Image) && !azureImgID.MatchString(a.Image):
		return fmt.Errorf("azure: image %q is neither a managed image's name nor its resource ID", a.Image)
	case a.Name != "" && !azureVMName.MatchString(a.Name):
		return fmt.Errorf("azure: VM name %q is not valid (1 to 58 letters, digits and -, not starting or ending with -): give --name", a.Name)
	case !azureSize.MatchString(a.Size):
		return fmt.Errorf("azure: VM size %q is not valid: give --size, e.g. Standard_B1s", a.Size)
	case a.DiskSize < 0:
		return fmt.Errorf("azure: --disk-size %d: give a size in GiB, or 0 for the image's", a.DiskSize)
	case !azureNet.MatchString(a.vnet()) || !azureNet.MatchString(a.subnet()):
		return fmt.Errorf("azure: virtual network %q or subnet %q is not a valid name: give --vnet and --subnet", a.vnet(), a.subnet())
	case len(a.Userdata) > AzureUserdataMax:
		return fmt.Errorf("azure: userdata of %d bytes: Azure takes at most %d (64 KiB in base64)", len(a.Userdata), AzureUserdataMax)
	}
	return nil
}

func (a *Azure) vnet() string {
	if a.VNet == "" {
		return "keel-vnet"
	}
	return a.VNet
}

func (a *Azure) subnet() string {
	if a.Subnet == "" {
		return "default"
	}
	return a.Subnet
}

// azClients are the SDK clients of a run.
type azClients struct {
	images *armcompute.ImagesClient
	vms    *armcompute.VirtualMachinesClient
	disks  *armcompute.DisksClient
	vnets  *armnetwork.VirtualNetworksClient
	ips    *armnetwork.PublicIPAddressesClient
	nics   *armnetwork.InterfacesClient
}

func (a *Azure) clients(ctx context.Context) (*azClients, error) {
	cred := a.Credential
	if cred == nil {
		var err error
		if cred, err = azidentity.NewDefaultAzureCredential(nil); err != nil {
			return nil, push.AzureNoCredentials(err)
		}
	}
	opts := &arm.ClientOptions{}
	if a.ARMOptions != nil {
		o := *a.ARMOptions
		opts = &o
	}
	// A token up front turns a missing login into one line instead of
	// the first call's chain of attempts.
	scope := "https://management.azure.com/.default"
	if c, ok := opts.Cloud.Services[cloud.ResourceManager]; ok && c.Audience != "" {
		scope = c.Audience + "/.default"
	}
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}}); err != nil {
		return nil, push.AzureNoCredentials(err)
	}
	// Registering a resource provider needs a permission of its own and
	// minutes; the error that says how is better than a wait.
	opts.DisableRPRegistration = true
	cf, err := armcompute.NewClientFactory(a.Subscription, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	nf, err := armnetwork.NewClientFactory(a.Subscription, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	return &azClients{
		images: cf.NewImagesClient(), vms: cf.NewVirtualMachinesClient(), disks: cf.NewDisksClient(),
		vnets: nf.NewVirtualNetworksClient(), ips: nf.NewPublicIPAddressesClient(), nics: nf.NewInterfacesClient(),
	}, nil
}

// azParts are the resources of one run, by name, and whether the run
// made each.
type azParts struct {
	name                 string
	vm, nic, ip, disk    bool
	vnet                 bool
	vnetName, diskName   string
	nicName, ipName      string
	imageID, subnetID    string
	ipID, nicID, vmState string
}

func newParts(name, vnet string) *azParts {
	return &azParts{name: name, nicName: name + "-nic", ipName: name + "-ip", diskName: name + "-osdisk", vnetName: vnet}
}

// Run creates the VM and, unless Detach, streams its serial log until it
// stops or ctx ends, then deletes what it made unless Keep. It returns
// the VM's name.
func (a *Azure) Run(ctx context.Context) (name string, err error) {
	if err := a.check(); err != nil {
		return "", err
	}
	name = a.Name
	if name == "" {
		base := a.Image[strings.LastIndex(a.Image, "/")+1:]
		name = instanceName(strings.NewReplacer(".", "-", "_", "-").Replace(base), 58)
		if !azureVMName.MatchString(name) {
			name = instanceName("keel", 58)
		}
	}
	c, err := a.clients(ctx)
	if err != nil {
		return "", err
	}
	p := newParts(name, a.vnet())
	if err := a.resolveImage(ctx, c, p); err != nil {
		return "", err
	}
	if err := a.free(ctx, c, p); err != nil {
		return "", err
	}
	defer func() {
		// What a failed run made is deleted whatever the flags say: a
		// public address and a disk left behind cost money. A run that
		// ends well deletes unless it was asked to leave the VM.
		if a.Keep || err == nil && a.Detach {
			return
		}
		if derr := a.cleanup(ctx, c, p); derr != nil && err == nil {
			err = derr
		}
	}()
	a.logf("creating VM %s (%s, %s) from %s\n", name, a.Size, a.Location, a.Image)
	if err := a.network(ctx, c, p); err != nil {
		return name, err
	}
	if err := a.createVM(ctx, c, p); err != nil {
		return name, err
	}
	a.logf("VM %s is running\n", name)
	if a.Detach {
		return name, nil
	}
	return name, a.stream(ctx, c, name)
}

// resolveImage finds the image's ID and, without --location, takes the
// image's region for the VM's: Azure makes VMs of a managed image only
// in its region.
func (a *Azure) resolveImage(ctx context.Context, c *azClients, p *azParts) error {
	if azureImgID.MatchString(a.Image) {
		p.imageID = a.Image
		if a.Location == "" {
			return errors.New("azure: give --location with an image's resource ID")
		}
		return nil
	}
	img, err := c.images.Get(ctx, a.ResourceGroup, a.Image, nil)
	if isNotFound(err) {
		return &push.Error{Kind: push.NotFound, Msg: fmt.Sprintf("azure: image %s not found in resource group %s: push it with keel push azure, or check --resource-group", a.Image, a.ResourceGroup), Err: err}
	}
	if err != nil {
		return a.mapErr(err, "read image "+a.Image, "Microsoft.Compute/images/read")
	}
	p.imageID = deref(img.ID)
	loc := normLocation(deref(img.Location))
	switch {
	case a.Location == "":
		a.Location = loc
	case normLocation(a.Location) != loc:
		return fmt.Errorf("azure: image %s is in %s, not --location %s: Azure makes VMs of a managed image in its own region", a.Image, loc, a.Location)
	}
	return nil
}

// free refuses a name whose VM, interface or address is there already:
// a PUT would change that resource instead of making a new one.
func (a *Azure) free(ctx context.Context, c *azClients, p *azParts) error {
	taken := func(kind, n, perm string, err error) error {
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return a.mapErr(err, "read "+kind+" "+n, perm)
		}
		return &push.Error{Kind: push.Conflict, Msg: fmt.Sprintf("azure: %s %s already exists in resource group %s: give another --name, or delete it with keel rm azure %s", kind, n, a.ResourceGroup, p.name)}
	}
	_, err := c.vms.Get(ctx, a.ResourceGroup, p.name, nil)
	if err := taken("VM", p.name, "Microsoft.Compute/virtualMachines/read", err); err != nil {
		return err
	}
	_, err = c.nics.Get(ctx, a.ResourceGroup, p.nicName, nil)
	if err := taken("network interface", p.nicName, "Microsoft.Network/networkInterfaces/read", err); err != nil {
		return err
	}
	_, err = c.ips.Get(ctx, a.ResourceGroup, p.ipName, nil)
	return taken("public IP address", p.ipName, "Microsoft.Network/publicIPAddresses/read", err)
}

func (a *Azure) tags(name string) map[string]*string {
	return map[string]*string{AzureRunTag: to.Ptr(name), "made-by": to.Ptr("keel")}
}

// network finds or makes the subnet, then makes the address and the
// interface.
func (a *Azure) network(ctx context.Context, c *azClients, p *azParts) error {
	vn, err := c.vnets.Get(ctx, a.ResourceGroup, p.vnetName, nil)
	switch {
	case isNotFound(err):
		a.logf("creating virtual network %s\n", p.vnetName)
		poller, err := c.vnets.BeginCreateOrUpdate(ctx, a.ResourceGroup, p.vnetName, armnetwork.VirtualNetwork{
			Location: to.Ptr(a.Location), Tags: a.tags(p.name),
			Properties: &armnetwork.VirtualNetworkPropertiesFormat{
				AddressSpace: &armnetwork.AddressSpace{AddressPrefixes: []*string{to.Ptr("10.0.0.0/16")}},
				Subnets: []*armnetwork.Subnet{{
					Name:       to.Ptr(a.subnet()),
					Properties: &armnetwork.SubnetPropertiesFormat{AddressPrefix: to.Ptr("10.0.0.0/24")},
				}},
			},
		}, nil)
		if err == nil {
			p.vnet = true
			var made armnetwork.VirtualNetworksClientCreateOrUpdateResponse
			if made, err = push.PollARM(ctx, poller, a.poll()); err == nil {
				vn.VirtualNetwork = made.VirtualNetwork
			}
		}
		if err != nil {
			return a.mapErr(err, "create virtual network "+p.vnetName, "Microsoft.Network/virtualNetworks/write")
		}
	case err != nil:
		return a.mapErr(err, "read virtual network "+p.vnetName, "Microsoft.Network/virtualNetworks/read")
	default:
		a.logf("using virtual network %s\n", p.vnetName)
	}
	if vn.Properties != nil {
		for _, s := range vn.Properties.Subnets {
			if s != nil && strings.EqualFold(deref(s.Name), a.subnet()) {
				p.subnetID = deref(s.ID)
			}
		}
	}
	if p.subnetID == "" {
		return fmt.Errorf("azure: virtual network %s has no subnet %s: give --subnet, or another --vnet", p.vnetName, a.subnet())
	}

	a.logf("creating public IP address %s\n", p.ipName)
	ipp, err := c.ips.BeginCreateOrUpdate(ctx, a.ResourceGroup, p.ipName, armnetwork.PublicIPAddress{
		Location: to.Ptr(a.Location), Tags: a.tags(p.name),
		SKU: &armnetwork.PublicIPAddressSKU{Name: to.Ptr(armnetwork.PublicIPAddressSKUNameStandard)},
		Properties: &armnetwork.PublicIPAddressPropertiesFormat{
			PublicIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodStatic),
		},
	}, nil)
	var ip armnetwork.PublicIPAddressesClientCreateOrUpdateResponse
	if err == nil {
		p.ip = true
		ip, err = push.PollARM(ctx, ipp, a.poll())
	}
	if err != nil {
		return a.mapErr(err, "create public IP address "+p.ipName, "Microsoft.Network/publicIPAddresses/write")
	}
	p.ipID = deref(ip.ID)

	a.logf("creating network interface %s\n", p.nicName)
	np, err := c.nics.BeginCreateOrUpdate(ctx, a.ResourceGroup, p.nicName, armnetwork.Interface{
		Location: to.Ptr(a.Location), Tags: a.tags(p.name),
		Properties: &armnetwork.InterfacePropertiesFormat{
			IPConfigurations: []*armnetwork.InterfaceIPConfiguration{{
				Name: to.Ptr("ipconfig1"),
				Properties: &armnetwork.InterfaceIPConfigurationPropertiesFormat{
					Subnet:                    &armnetwork.Subnet{ID: to.Ptr(p.subnetID)},
					PublicIPAddress:           &armnetwork.PublicIPAddress{ID: to.Ptr(p.ipID)},
					PrivateIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodDynamic),
				},
			}},
		},
	}, nil)
	var nic armnetwork.InterfacesClientCreateOrUpdateResponse
	if err == nil {
		p.nic = true
		nic, err = push.PollARM(ctx, np, a.poll())
	}
	if err != nil {
		return a.mapErr(err, "create network interface "+p.nicName, "Microsoft.Network/networkInterfaces/write, Microsoft.Network/virtualNetworks/subnets/join/action and Microsoft.Network/publicIPAddresses/join/action")
	}
	p.nicID = deref(nic.ID)
	return nil
}

// vm is the VM's PUT body. A managed image is generalized, so Azure wants
// an OS profile with an admin user and a way in: the SSH keys, or else a
// random password nobody learns (the metadata service does not serve
// it, and Keel's agent reads no other source).
func (a *Azure) vm(p *azParts) armcompute.VirtualMachine {
	linux := &armcompute.LinuxConfiguration{ProvisionVMAgent: to.Ptr(false)}
	os := &armcompute.OSProfile{ComputerName: to.Ptr(p.name), AdminUsername: to.Ptr("keel"), LinuxConfiguration: linux}
	if len(a.SSHKeys) > 0 {
		linux.DisablePasswordAuthentication = to.Ptr(true)
		linux.SSH = &armcompute.SSHConfiguration{}
		for _, k := range a.SSHKeys {
			linux.SSH.PublicKeys = append(linux.SSH.PublicKeys, &armcompute.SSHPublicKey{Path: to.Ptr("/home/keel/.ssh/authorized_keys"), KeyData: to.Ptr(k)})
		}
	} else {
		var b [16]byte
		rand.Read(b[:])
		os.AdminPassword = to.Ptr("Kl1!" + hex.EncodeToString(b[:]))
	}
	disk := &armcompute.OSDisk{Name: to.Ptr(p.diskName), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage)}
	if a.DiskSize > 0 {
		disk.DiskSizeGB = to.Ptr(a.DiskSize)
	}
	vm := armcompute.VirtualMachine{
		Location: to.Ptr(a.Location), Tags: a.tags(p.name),
		Properties: &armcompute.VirtualMachineProperties{
			HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes(a.Size))},
			StorageProfile: &armcompute.StorageProfile{
				ImageReference: &armcompute.ImageReference{ID: to.Ptr(p.imageID)},
				OSDisk:         disk,
			},
			OSProfile: os,
			NetworkProfile: &armcompute.NetworkProfile{NetworkInterfaces: []*armcompute.NetworkInterfaceReference{{
				ID: to.Ptr(p.nicID), Properties: &armcompute.NetworkInterfaceReferenceProperties{Primary: to.Ptr(true)},
			}}},
			// Managed boot diagnostics: Azure keeps the serial log in a
			// storage account of its own, read through a SAS URI.
			DiagnosticsProfile: &armcompute.DiagnosticsProfile{BootDiagnostics: &armcompute.BootDiagnostics{Enabled: to.Ptr(true)}},
		},
	}
	if len(a.Userdata) > 0 {
		vm.Properties.UserData = to.Ptr(base64.StdEncoding.EncodeToString(a.Userdata))
	}
	return vm
}

// createVM makes the VM (the operation ends when the system reported
// ready to Azure's fabric, as Keel's metadata agent does) and tags its OS
// disk, which Azure makes without the VM's tags.
func (a *Azure) createVM(ctx context.Context, c *azClients, p *azParts) error {
	a.logf("creating VM %s and waiting for it to report ready\n", p.name)
	vp, err := c.vms.BeginCreateOrUpdate(ctx, a.ResourceGroup, p.name, a.vm(p), nil)
	if err == nil {
		p.vm, p.disk = true, true
		_, err = push.PollARM(ctx, vp, a.poll())
	}
	if err != nil {
		return a.mapVMErr(err, p.name)
	}
	dp, err := c.disks.BeginUpdate(ctx, a.ResourceGroup, p.diskName, armcompute.DiskUpdate{Tags: a.tags(p.name)}, nil)
	if err == nil {
		_, err = push.PollARM(ctx, dp, a.poll())
	}
	if err != nil {
		return a.mapErr(err, "tag OS disk "+p.diskName, "Microsoft.Compute/disks/write")
	}
	return nil
}

// mapVMErr names the fix for the errors only a VM's creation has.
func (a *Azure) mapVMErr(err error, name string) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch re.ErrorCode {
		case "OSProvisioningTimedOut":
			return fmt.Errorf("azure: VM %s did not report ready in time: is the metadata agent in the image (metadata/ reports ready to Azure's fabric)? The serial log: keel run azure without --detach", name)
		case "SkuNotAvailable":
			return &push.Error{Kind: push.Quota, Msg: fmt.Sprintf("azure: VM size %s is not available in %s for this subscription: give another --size (az vm list-skus --location %s --resource-type virtualMachines)", a.Size, a.Location, a.Location), Err: err}
		}
	}
	return a.mapErr(err, "create VM "+name, "Microsoft.Compute/virtualMachines/write, Microsoft.Compute/images/read, Microsoft.Compute/disks/write and Microsoft.Network/networkInterfaces/join/action")
}

func (a *Azure) mapErr(err error, what, perm string) error {
	return push.ARMError(err, push.ARMScope{Subscription: a.Subscription, ResourceGroup: a.ResourceGroup, Location: a.Location,
		ConflictFix: "give another --name, or wait for the resource's last operation to end"}, what, perm)
}

// isNotFound is a 404 about the resource itself, not its resource group
// or subscription (which are 404s as well, and errors).
func isNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound &&
		re.ErrorCode != "ResourceGroupNotFound" && re.ErrorCode != "SubscriptionNotFound"
}

// normLocation is a region's name as ARM answers it (West Europe and
// westeurope are one).
func normLocation(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, " ", ""))
}

func (a *Azure) poll() time.Duration {
	if a.PollInterval == 0 {
		return 5 * time.Second
	}
	return a.PollInterval
}

func (a *Azure) logf(format string, args ...any) {
	if a.Log != nil {
		fmt.Fprintf(a.Log, format, args...)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
