package cloudrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"

	"github.com/keel-os/keel/packer/push"
)

// maxLogRead bounds one read of the serial log: what is left is read at
// the next look.
const maxLogRead = 4 << 20

// stream copies the VM's serial log to Console until the VM stops or ctx
// ends. Boot diagnostics keep the log in a blob that grows; each read
// asks for the bytes after the last one read.
func (a *Azure) stream(ctx context.Context, c *azClients, name string) error {
	console := a.Console
	if console == nil {
		console = io.Discard
	}
	var next int64
	var uri string
	for {
		// The state first: output read after a stop was seen is all
		// there will be.
		iv, err := c.vms.InstanceView(ctx, a.ResourceGroup, name, nil)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return a.mapErr(err, "read the state of VM "+name, "Microsoft.Compute/virtualMachines/instanceView/read")
		}
		state := powerState(iv.Statuses)
		if uri == "" {
			r, err := c.vms.RetrieveBootDiagnosticsData(ctx, a.ResourceGroup, name, &armcompute.VirtualMachinesClientRetrieveBootDiagnosticsDataOptions{SasURIExpirationTimeInMinutes: to.Ptr[int32](60)})
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return a.mapErr(err, "find the serial log of VM "+name, "Microsoft.Compute/virtualMachines/retrieveBootDiagnosticsData/action")
			}
			uri = deref(r.SerialConsoleLogBlobURI)
		}
		if uri != "" {
			b, status, err := a.readLog(ctx, uri, next)
			if ctx.Err() != nil {
				return nil
			}
			switch {
			case err != nil:
				return fmt.Errorf("azure: read the serial log of VM %s: %w", name, err)
			case status == http.StatusForbidden:
				// The SAS URI expired: ask for a new one next time.
				uri = ""
			}
			console.Write(b)
			next += int64(len(b))
		}
		if state == "stopped" || state == "deallocated" {
			a.logf("VM %s is %s\n", name, state)
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(a.poll()):
		}
	}
}

// powerState is the PowerState/... code of an instance view's statuses.
func powerState(st []*armcompute.InstanceViewStatus) string {
	for _, s := range st {
		if s != nil && strings.HasPrefix(deref(s.Code), "PowerState/") {
			return strings.TrimPrefix(deref(s.Code), "PowerState/")
		}
	}
	return ""
}

// readLog reads the serial log blob from offset: a 404 (no log written
// yet) and a 416 (nothing new) are no bytes, a 403 (an expired SAS) is
// given back as a status to act on.
func (a *Azure) readLog(ctx context.Context, uri string, offset int64) ([]byte, int, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "https" {
		return nil, 0, fmt.Errorf("the serial log's URI is not an https URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, 0, err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, offset+maxLogRead-1))
	}
	req.Header.Set("x-ms-version", "2021-08-06")
	hc := a.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotFound, http.StatusRequestedRangeNotSatisfiable, http.StatusForbidden:
		return nil, resp.StatusCode, nil
	case http.StatusOK, http.StatusPartialContent:
	default:
		return nil, resp.StatusCode, fmt.Errorf("HTTP %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLogRead))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode == http.StatusOK && offset > 0 {
		// A whole blob for a range: the bytes after those already read.
		if int64(len(b)) <= offset {
			return nil, resp.StatusCode, nil
		}
		b = b[offset:]
	}
	return b, resp.StatusCode, nil
}

// cleanup deletes what the run made, ctx or no ctx.
func (a *Azure) cleanup(ctx context.Context, c *azClients, p *azParts) error {
	limit := a.CleanupTimeout
	if limit == 0 {
		limit = 10 * time.Minute
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	defer cancel()
	if err := a.remove(dctx, c, p); err != nil {
		return fmt.Errorf("%w (delete the rest with keel rm azure --resource-group %s %s)", err, a.ResourceGroup, p.name)
	}
	return nil
}

// Delete deletes what keel run azure made for the VM name: the VM, its
// network interface, its public IP address and its OS disk, then the
// virtual network if that run made it and nothing else uses it. Only
// resources tagged keel-run=name are deleted.
func (a *Azure) Delete(ctx context.Context, name string) error {
	switch {
	case a.Subscription == "":
		return errors.New("azure: no subscription: give --subscription or set AZURE_SUBSCRIPTION_ID")
	case a.ResourceGroup == "":
		return errors.New("azure: no resource group: give --resource-group, the VM's")
	case !azureVMName.MatchString(name):
		return fmt.Errorf("azure: VM name %q is not valid", name)
	case !azureNet.MatchString(a.vnet()):
		return fmt.Errorf("azure: virtual network name %q is not valid", a.vnet())
	}
	c, err := a.clients(ctx)
	if err != nil {
		return err
	}
	p := newParts(name, a.vnet())
	// ours says whether a resource is there and carries this run's tag;
	// one that is there without it is left, saying so.
	ours := func(kind, n, perm string, tags map[string]*string, err error) (bool, error) {
		if isNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, a.mapErr(err, "read "+kind+" "+n, perm)
		}
		if deref(tags[AzureRunTag]) != name {
			a.logf("leaving %s %s: it has no tag %s=%s, keel run did not make it for this VM\n", kind, n, AzureRunTag, name)
			return false, nil
		}
		return true, nil
	}
	vm, err := c.vms.Get(ctx, a.ResourceGroup, name, nil)
	switch {
	case isNotFound(err):
	case err != nil:
		return a.mapErr(err, "read VM "+name, "Microsoft.Compute/virtualMachines/read")
	case deref(vm.Tags[AzureRunTag]) != name:
		return &push.Error{Kind: push.Conflict, Msg: fmt.Sprintf("azure: VM %s in resource group %s was not made by keel run azure (no tag %s=%s): delete it with az vm delete", name, a.ResourceGroup, AzureRunTag, name)}
	default:
		p.vm = true
		if sp := vm.Properties; sp != nil && sp.StorageProfile != nil && sp.StorageProfile.OSDisk != nil && sp.StorageProfile.OSDisk.Name != nil {
			p.diskName = *sp.StorageProfile.OSDisk.Name
		}
	}
	nic, err := c.nics.Get(ctx, a.ResourceGroup, p.nicName, nil)
	if p.nic, err = ours("network interface", p.nicName, "Microsoft.Network/networkInterfaces/read", nic.Tags, err); err != nil {
		return err
	}
	ip, err := c.ips.Get(ctx, a.ResourceGroup, p.ipName, nil)
	if p.ip, err = ours("public IP address", p.ipName, "Microsoft.Network/publicIPAddresses/read", ip.Tags, err); err != nil {
		return err
	}
	disk, err := c.disks.Get(ctx, a.ResourceGroup, p.diskName, nil)
	if p.disk, err = ours("disk", p.diskName, "Microsoft.Compute/disks/read", disk.Tags, err); err != nil {
		return err
	}
	vn, err := c.vnets.Get(ctx, a.ResourceGroup, p.vnetName, nil)
	if isNotFound(err) || err == nil && deref(vn.Tags[AzureRunTag]) != name {
		err = nil // a network another run made, or the user's: not this one's to delete
	} else if err == nil {
		p.vnet = true
	}
	if err != nil {
		return a.mapErr(err, "read virtual network "+p.vnetName, "Microsoft.Network/virtualNetworks/read")
	}
	if !p.vm && !p.nic && !p.ip && !p.disk && !p.vnet {
		return &push.Error{Kind: push.NotFound, Msg: fmt.Sprintf("azure: nothing keel run azure made for %s is in resource group %s", name, a.ResourceGroup)}
	}
	return a.remove(ctx, c, p)
}

// remove deletes the parts of a run that it made, each after what holds
// it: the VM holds the interface and the disk, the interface the address
// and the subnet.
func (a *Azure) remove(ctx context.Context, c *azClients, p *azParts) error {
	type step struct {
		made       bool
		kind, name string
		perm       string
		del        func() error
	}
	rg := a.ResourceGroup
	steps := []step{
		{p.vm, "VM", p.name, "Microsoft.Compute/virtualMachines/delete", func() error {
			pl, err := c.vms.BeginDelete(ctx, rg, p.name, nil)
			return wait(ctx, a, pl, err)
		}},
		{p.nic, "network interface", p.nicName, "Microsoft.Network/networkInterfaces/delete", func() error {
			pl, err := c.nics.BeginDelete(ctx, rg, p.nicName, nil)
			return wait(ctx, a, pl, err)
		}},
		{p.ip, "public IP address", p.ipName, "Microsoft.Network/publicIPAddresses/delete", func() error {
			pl, err := c.ips.BeginDelete(ctx, rg, p.ipName, nil)
			return wait(ctx, a, pl, err)
		}},
		{p.disk, "disk", p.diskName, "Microsoft.Compute/disks/delete", func() error {
			pl, err := c.disks.BeginDelete(ctx, rg, p.diskName, nil)
			return wait(ctx, a, pl, err)
		}},
		{p.vnet, "virtual network", p.vnetName, "Microsoft.Network/virtualNetworks/delete", func() error {
			pl, err := c.vnets.BeginDelete(ctx, rg, p.vnetName, nil)
			return wait(ctx, a, pl, err)
		}},
	}
	for _, s := range steps {
		if !s.made {
			continue
		}
		a.logf("deleting %s %s\n", s.kind, s.name)
		err := s.del()
		if isNotFound(err) {
			continue
		}
		if s.kind == "virtual network" && inUse(err) {
			// Another run's interface is in it: that run's rm deletes it.
			a.logf("leaving virtual network %s: still in use\n", s.name)
			continue
		}
		if err != nil {
			return a.mapErr(err, "delete "+s.kind+" "+s.name, s.perm)
		}
	}
	return nil
}

// wait waits for the end of the operation a Begin call started.
func wait[T any](ctx context.Context, a *Azure, p *runtime.Poller[T], err error) error {
	if err != nil {
		return err
	}
	_, err = push.PollARM(ctx, p, a.poll())
	return err
}

// inUse is ARM's refusal to delete a network that has interfaces in it.
func inUse(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && (strings.HasPrefix(re.ErrorCode, "InUse") || re.ErrorCode == "InUseSubnetCannotBeDeleted")
}
