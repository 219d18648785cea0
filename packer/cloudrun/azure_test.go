package cloudrun

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/cloudtest"
	"github.com/keel-os/keel/packer/push"
)

const (
	vmPath   = "Microsoft.Compute/virtualMachines/vm1"
	nicPath  = "Microsoft.Network/networkInterfaces/vm1-nic"
	ipPath   = "Microsoft.Network/publicIPAddresses/vm1-ip"
	diskPath = "Microsoft.Compute/disks/vm1-osdisk"
	vnetPath = "Microsoft.Network/virtualNetworks/keel-vnet"
	imgPath  = "Microsoft.Compute/images/sys"
)

func armTest(t *testing.T, f *cloudtest.ARM) *Azure {
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	f.Put(imgPath, map[string]any{"location": "westeurope", "properties": map[string]any{}})
	f.Calls = nil
	return &Azure{
		Subscription: cloudtest.Sub, ResourceGroup: cloudtest.RG, Image: "sys", Name: "vm1", Size: "Standard_B1s",
		Credential: cloudtest.Token{}, ARMOptions: cloudtest.ARMOptions(srv), HTTPClient: srv.Client(),
		PollInterval: time.Millisecond,
	}
}

// put is the PUT (or PATCH) of a long-running operation and its looks:
// in progress, done, then the SDK's read of the result.
func put(method, path string, op int) []string {
	o := "GET operations/" + strconv.Itoa(op)
	calls := []string{method + " " + path, o, o}
	if method != "DELETE" {
		calls = append(calls, "GET "+path)
	}
	return calls
}

// created are the calls of a run that makes everything, up to the
// running VM.
func created() []string {
	c := []string{"GET " + imgPath, "GET " + vmPath, "GET " + nicPath, "GET " + ipPath, "GET " + vnetPath}
	c = append(c, put("PUT", vnetPath, 1)...)
	c = append(c, put("PUT", ipPath, 2)...)
	c = append(c, put("PUT", nicPath, 3)...)
	c = append(c, put("PUT", vmPath, 4)...)
	return append(c, put("PATCH", diskPath, 5)...)
}

// removed are the deletions of everything, in order, from operation op.
func removed(op int, vnet bool) []string {
	var c []string
	paths := []string{vmPath, nicPath, ipPath, diskPath}
	if vnet {
		paths = append(paths, vnetPath)
	}
	for i, p := range paths {
		c = append(c, put("DELETE", p, op+i)...)
	}
	return c
}

// TestAzureRun runs a VM to its end: the network, address, interface, VM
// and disk tag are made in order, the VM's body carries the image, the
// userdata in base64, the SSH keys and boot diagnostics; the serial log
// is written once and in order; then everything is deleted, the VM first.
func TestAzureRun(t *testing.T) {
	f := cloudtest.NewARM()
	f.SerialLog, f.Step = "Booting Keel\nmetadata: azure\npower off\n", 10
	a := armTest(t, f)
	var console bytes.Buffer
	a.Console, a.DiskSize = &console, 4
	a.Userdata = []byte(`{"ssh":{"port":"22"}}`)
	a.SSHKeys = []string{"ssh-ed25519 AAAA me@host"}
	name, err := a.Run(context.Background())
	if err != nil || name != "vm1" {
		t.Fatalf("got %q, %v, want vm1", name, err)
	}
	if console.String() != f.SerialLog {
		t.Errorf("got console %q, want %q", console.String(), f.SerialLog)
	}
	want := created()
	// A look per 10 bytes until the log is all revealed (and the VM
	// stopped), the boot diagnostics URI asked once, a read of the blob
	// per look.
	for i := range (len(f.SerialLog) + 9) / 10 {
		want = append(want, "GET "+vmPath+"/instanceView")
		if i == 0 {
			want = append(want, "POST "+vmPath+"/retrieveBootDiagnosticsData")
		}
		want = append(want, "GET blob")
	}
	want = append(want, removed(6, true)...)
	if !slices.Equal(f.Calls, want) {
		t.Errorf("got calls\n%q,\nwant\n%q", f.Calls, want)
	}
	if len(f.Resources) != 1 {
		t.Errorf("got resources %v left, want only the image", keys(f.Resources))
	}
}

// TestAzureRunBody checks the VM's PUT body and the tags, on a run left
// running (--detach).
func TestAzureRunBody(t *testing.T) {
	for _, tt := range []struct {
		name     string
		keys     []string
		userdata string
	}{
		{name: "keys and userdata", keys: []string{"ssh-ed25519 AAAA me@host", "ssh-rsa BBBB you"}, userdata: "hello"},
		{name: "neither: a random password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := cloudtest.NewARM()
			a := armTest(t, f)
			a.Detach, a.SSHKeys, a.Userdata, a.DiskSize = true, tt.keys, []byte(tt.userdata), 4
			if _, err := a.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.Calls, created()) {
				t.Errorf("got calls\n%q,\nwant\n%q", f.Calls, created())
			}
			vm := f.Resources[strings.ToLower(vmPath)]
			var v struct {
				Location   string
				Tags       map[string]string
				Properties struct {
					UserData        string
					HardwareProfile struct{ VMSize string }
					StorageProfile  struct {
						ImageReference struct{ ID string }
						OSDisk         struct {
							Name         string
							CreateOption string
							DiskSizeGB   int
						}
					}
					OSProfile struct {
						ComputerName, AdminUsername, AdminPassword string
						LinuxConfiguration                         struct {
							DisablePasswordAuthentication bool
							ProvisionVMAgent              *bool
							SSH                           struct {
								PublicKeys []struct{ Path, KeyData string }
							}
						}
					}
					NetworkProfile     struct{ NetworkInterfaces []struct{ ID string } }
					DiagnosticsProfile struct{ BootDiagnostics struct{ Enabled bool } }
				}
			}
			b, _ := json.Marshal(vm)
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			p := v.Properties
			ud, _ := base64.StdEncoding.DecodeString(p.UserData)
			if string(ud) != tt.userdata {
				t.Errorf("got userData %q, want %q", ud, tt.userdata)
			}
			for _, c := range []struct{ got, want any }{
				{v.Location, "westeurope"},
				{v.Tags[AzureRunTag], "vm1"},
				{p.HardwareProfile.VMSize, "Standard_B1s"},
				{p.StorageProfile.ImageReference.ID, f.ID(imgPath)},
				{p.StorageProfile.OSDisk.Name, "vm1-osdisk"},
				{p.StorageProfile.OSDisk.CreateOption, "FromImage"},
				{p.StorageProfile.OSDisk.DiskSizeGB, 4},
				{p.OSProfile.ComputerName, "vm1"},
				{p.OSProfile.AdminUsername, "keel"},
				{p.OSProfile.LinuxConfiguration.ProvisionVMAgent != nil && !*p.OSProfile.LinuxConfiguration.ProvisionVMAgent, true},
				{p.OSProfile.LinuxConfiguration.DisablePasswordAuthentication, len(tt.keys) > 0},
				{p.OSProfile.AdminPassword != "", len(tt.keys) == 0},
				{len(p.OSProfile.LinuxConfiguration.SSH.PublicKeys), len(tt.keys)},
				{len(p.NetworkProfile.NetworkInterfaces) == 1 && p.NetworkProfile.NetworkInterfaces[0].ID == f.ID(nicPath), true},
				{p.DiagnosticsProfile.BootDiagnostics.Enabled, true},
			} {
				if c.got != c.want {
					t.Errorf("VM body: got %v, want %v", c.got, c.want)
				}
			}
			for i, k := range p.OSProfile.LinuxConfiguration.SSH.PublicKeys {
				if k.KeyData != tt.keys[i] || k.Path != "/home/keel/.ssh/authorized_keys" {
					t.Errorf("got key %d %+v, want %q at /home/keel/.ssh/authorized_keys", i, k, tt.keys[i])
				}
			}
			for _, r := range []string{nicPath, ipPath, diskPath, vnetPath} {
				tags, _ := f.Resources[strings.ToLower(r)]["tags"].(map[string]any)
				if tags[AzureRunTag] != "vm1" {
					t.Errorf("%s: got tags %v, want %s=vm1", r, tags, AzureRunTag)
				}
			}
			nic, _ := json.Marshal(f.Resources[strings.ToLower(nicPath)])
			for _, id := range []string{f.ID(vnetPath) + "/subnets/default", f.ID(ipPath)} {
				if !strings.Contains(string(nic), id) {
					t.Errorf("network interface %s: want %s in it", nic, id)
				}
			}
		})
	}
}

// TestAzureRunErrors: what a user can fix is one line of the right kind,
// and what a failed run made is deleted.
func TestAzureRunErrors(t *testing.T) {
	denied := cloudtest.ARMError("AuthorizationFailed", "The client 'x' does not have authorization to perform action 'Microsoft.Network/publicIPAddresses/write' over scope '/subscriptions/s/resourceGroups/rg'.")
	quota := cloudtest.ARMError("OperationNotAllowed", "Operation could not be completed as it results in exceeding approved standardBSFamily Cores quota.")
	pre := []string{"GET " + imgPath, "GET " + vmPath, "GET " + nicPath, "GET " + ipPath, "GET " + vnetPath}
	tests := []struct {
		name      string
		fail      map[string][]cloudtest.Answer
		opFail    int // the operation that fails with quota
		existing  []string
		wantCalls []string
		wantErr   push.ErrKind
		wantMsg   string
	}{
		{
			name: "no image", fail: map[string][]cloudtest.Answer{"GET " + imgPath: {{Code: 404, Body: cloudtest.ARMError("ResourceNotFound", "no image")}}},
			wantCalls: []string{"GET " + imgPath}, wantErr: push.NotFound, wantMsg: "keel push azure",
		},
		{
			name: "no resource group", fail: map[string][]cloudtest.Answer{"GET " + imgPath: {{Code: 404, Body: cloudtest.ARMError("ResourceGroupNotFound", "Resource group 'rg' could not be found.")}}},
			wantCalls: []string{"GET " + imgPath}, wantErr: push.NotFound, wantMsg: "az group create",
		},
		{
			name: "refused token", fail: map[string][]cloudtest.Answer{"GET " + imgPath: {{Code: 401, Body: cloudtest.ARMError("InvalidAuthenticationToken", "bad token")}}},
			wantCalls: []string{"GET " + imgPath}, wantErr: push.NoCredentials, wantMsg: "az login",
		},
		{
			name: "name taken", existing: []string{vmPath},
			wantCalls: []string{"GET " + imgPath, "GET " + vmPath}, wantErr: push.Conflict, wantMsg: "keel rm azure vm1",
		},
		{
			name: "a 429 and a 503 are retried", fail: map[string][]cloudtest.Answer{
				"GET " + vmPath: {{Code: 429, Body: cloudtest.ARMError("TooManyRequests", "slow down")}},
				"PUT " + ipPath: {{Code: 503, Body: cloudtest.ARMError("ServiceUnavailable", "try again")}},
			},
			wantCalls: slices.Concat(
				[]string{"GET " + imgPath, "GET " + vmPath, "GET " + vmPath, "GET " + nicPath, "GET " + ipPath, "GET " + vnetPath},
				put("PUT", vnetPath, 1), []string{"PUT " + ipPath}, put("PUT", ipPath, 2), put("PUT", nicPath, 3), put("PUT", vmPath, 4), put("PATCH", diskPath, 5)),
		},
		{
			name: "missing permission, the network made is deleted", fail: map[string][]cloudtest.Answer{"PUT " + ipPath: {{Code: 403, Body: denied}}},
			wantCalls: slices.Concat(pre, put("PUT", vnetPath, 1), []string{"PUT " + ipPath}, put("DELETE", vnetPath, 2)),
			wantErr:   push.Denied, wantMsg: "needs Microsoft.Network/publicIPAddresses/write on resource group rg",
		},
		{
			name: "public addresses used up", fail: map[string][]cloudtest.Answer{"PUT " + ipPath: {{Code: 400, Body: cloudtest.ARMError("PublicIPCountLimitReached", "Cannot create more than 10 public IP addresses for this subscription in this region.")}}},
			wantCalls: slices.Concat(pre, put("PUT", vnetPath, 1), []string{"PUT " + ipPath}, put("DELETE", vnetPath, 2)),
			wantErr:   push.Quota, wantMsg: "Usage + quotas",
		},
		{
			name: "quota ends the VM's operation, all is deleted", opFail: 4,
			wantCalls: slices.Concat(pre, put("PUT", vnetPath, 1), put("PUT", ipPath, 2), put("PUT", nicPath, 3),
				[]string{"PUT " + vmPath, "GET operations/4", "GET operations/4"}, removed(5, true)),
			wantErr: push.Quota, wantMsg: "Usage + quotas",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cloudtest.NewARM()
			a := armTest(t, f)
			a.Detach = true
			for k, v := range tt.fail {
				f.Fail[k] = v
			}
			for _, p := range tt.existing {
				f.Put(p, map[string]any{"location": "westeurope"})
			}
			if tt.opFail > 0 {
				f.Fail["GET operations/"+strconv.Itoa(tt.opFail)] = []cloudtest.Answer{{Code: 200, Body: `{"status":"InProgress"}`}, {Code: 200, Body: `{"status":"Failed",` + strings.TrimPrefix(quota, "{")}}
			}
			_, err := a.Run(context.Background())
			var pe *push.Error
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.wantErr != "" && (!errors.As(err, &pe) || pe.Kind != tt.wantErr || !strings.Contains(err.Error(), tt.wantMsg)):
				t.Errorf("got %v, want a %v error saying %q", err, tt.wantErr, tt.wantMsg)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("got a message of many lines:\n%v", err)
			}
			if !slices.Equal(f.Calls, tt.wantCalls) {
				t.Errorf("got calls\n%q,\nwant\n%q", f.Calls, tt.wantCalls)
			}
		})
	}
}

// TestAzureRunReusesNetwork: a network that is there is used and not
// deleted; one whose subnet is not there is refused.
func TestAzureRunReusesNetwork(t *testing.T) {
	f := cloudtest.NewARM()
	a := armTest(t, f)
	f.SerialLog = "hello\n"
	f.Put(vnetPath, map[string]any{"location": "westeurope", "properties": map[string]any{
		"subnets": []any{map[string]any{"name": "default", "id": f.ID(vnetPath) + "/subnets/default"}}}})
	f.Calls = nil
	if _, err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := slices.Concat([]string{"GET " + imgPath, "GET " + vmPath, "GET " + nicPath, "GET " + ipPath, "GET " + vnetPath},
		put("PUT", ipPath, 1), put("PUT", nicPath, 2), put("PUT", vmPath, 3), put("PATCH", diskPath, 4),
		[]string{"GET " + vmPath + "/instanceView", "POST " + vmPath + "/retrieveBootDiagnosticsData", "GET blob"},
		removed(5, false))
	if !slices.Equal(f.Calls, want) {
		t.Errorf("got calls\n%q,\nwant\n%q", f.Calls, want)
	}
	if _, ok := f.Resources[strings.ToLower(vnetPath)]; !ok {
		t.Error("the network that was there was deleted")
	}

	a.Subnet = "other"
	if _, err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no subnet other") {
		t.Errorf("got %v, want an error naming the missing subnet", err)
	}
}

// TestAzureDelete: keel rm deletes by tag, in order, and leaves what it
// did not make.
func TestAzureDelete(t *testing.T) {
	tagged := func() map[string]any {
		return map[string]any{"location": "westeurope", "tags": map[string]any{AzureRunTag: "vm1"}}
	}
	tests := []struct {
		name      string
		have      map[string]map[string]any
		inUse     bool
		wantCalls []string
		wantLeft  []string
		wantErr   push.ErrKind
	}{
		{
			name:      "all of a run",
			have:      map[string]map[string]any{vmPath: tagged(), nicPath: tagged(), ipPath: tagged(), diskPath: tagged(), vnetPath: tagged()},
			wantCalls: removed(1, true),
		},
		{
			name:      "a network another run still uses stays",
			have:      map[string]map[string]any{vmPath: tagged(), nicPath: tagged(), ipPath: tagged(), diskPath: tagged(), vnetPath: tagged()},
			inUse:     true,
			wantCalls: slices.Concat(removed(1, false), []string{"DELETE " + vnetPath}),
			wantLeft:  []string{vnetPath},
		},
		{
			name:      "a half-deleted run: the rest",
			have:      map[string]map[string]any{ipPath: tagged(), diskPath: tagged(), vnetPath: {"location": "westeurope"}},
			wantCalls: slices.Concat(put("DELETE", ipPath, 1), put("DELETE", diskPath, 2)),
			wantLeft:  []string{vnetPath},
		},
		{
			name:     "a VM keel did not make",
			have:     map[string]map[string]any{vmPath: {"location": "westeurope"}},
			wantErr:  push.Conflict,
			wantLeft: []string{vmPath},
		},
		{name: "nothing", wantErr: push.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cloudtest.NewARM()
			a := armTest(t, f)
			f.InUse = tt.inUse
			for p, r := range tt.have {
				f.Put(p, r)
			}
			f.Calls = nil
			err := a.Delete(context.Background(), "vm1")
			var pe *push.Error
			if tt.wantErr != "" && (!errors.As(err, &pe) || pe.Kind != tt.wantErr) || tt.wantErr == "" && err != nil {
				t.Fatalf("got %v, want error kind %v", err, tt.wantErr)
			}
			var dels []string
			for _, c := range f.Calls {
				if !strings.HasPrefix(c, "GET ") || strings.HasPrefix(c, "GET operations/") {
					dels = append(dels, c)
				}
			}
			var want []string
			for _, c := range tt.wantCalls {
				if !strings.HasPrefix(c, "GET ") || strings.HasPrefix(c, "GET operations/") {
					want = append(want, c)
				}
			}
			if !slices.Equal(dels, want) {
				t.Errorf("got deletions\n%q,\nwant\n%q", dels, want)
			}
			left := keys(f.Resources)
			slices.Sort(left)
			wantLeft := []string{strings.ToLower(imgPath)}
			for _, p := range tt.wantLeft {
				wantLeft = append(wantLeft, strings.ToLower(p))
			}
			slices.Sort(wantLeft)
			if !slices.Equal(left, wantLeft) {
				t.Errorf("got %q left, want %q", left, wantLeft)
			}
		})
	}
}

// TestAzureRunNoCredentials: no token is one line before any call.
func TestAzureRunNoCredentials(t *testing.T) {
	f := cloudtest.NewARM()
	a := armTest(t, f)
	a.Credential = cloudtest.Token{Err: errors.New("DefaultAzureCredential: failed to acquire a token")}
	_, err := a.Run(context.Background())
	if !push.IsKind(err, push.NoCredentials) || len(f.Calls) != 0 {
		t.Errorf("got %v and calls %q, want a no-credentials error and no call", err, f.Calls)
	}
}

func keys(m map[string]map[string]any) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	return k
}

// TestAzureRunConsoleRefresh: an expired SAS URI (403) is asked for anew
// and the log read on from where it was; --keep deletes nothing.
func TestAzureRunConsoleRefresh(t *testing.T) {
	f := cloudtest.NewARM()
	f.SerialLog, f.Step = "0123456789abcde", 5
	a := armTest(t, f)
	var console bytes.Buffer
	a.Console, a.Keep = &console, true
	f.Fail["GET blob"] = []cloudtest.Answer{{Code: 200, Body: "01234"}, {Code: 403}}
	if _, err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if console.String() != f.SerialLog {
		t.Errorf("got console %q, want %q", console.String(), f.SerialLog)
	}
	iv, diag := "GET "+vmPath+"/instanceView", "POST "+vmPath+"/retrieveBootDiagnosticsData"
	want := slices.Concat(created(), []string{iv, diag, "GET blob", iv, "GET blob", iv, diag, "GET blob"})
	if !slices.Equal(f.Calls, want) {
		t.Errorf("got calls\n%q,\nwant\n%q", f.Calls, want)
	}
}

// TestAzureRunReal runs a VM in a real subscription when asked: at most
// fifteen minutes, then everything it made is deleted.
func TestAzureRunReal(t *testing.T) {
	img, rg := os.Getenv("KEEL_TEST_AZURE_RUN_IMAGE"), os.Getenv("KEEL_TEST_AZURE_RESOURCE_GROUP")
	if img == "" || rg == "" {
		t.Skip("talks to Azure: set KEEL_TEST_AZURE_RUN_IMAGE (a managed image keel push azure made), KEEL_TEST_AZURE_RESOURCE_GROUP (its group) and AZURE_SUBSCRIPTION_ID, with credentials DefaultAzureCredential finds, to run it")
	}
	var console bytes.Buffer
	a := &Azure{Subscription: os.Getenv("AZURE_SUBSCRIPTION_ID"), ResourceGroup: rg, Image: img, Size: "Standard_B1s", Console: &console, Log: os.Stderr, Userdata: []byte("keel-test")}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	name, err := a.Run(ctx)
	t.Logf("VM %s, serial log:\n%s", name, console.String())
	if err != nil {
		t.Fatal(err)
	}
	if console.Len() == 0 {
		t.Errorf("got no serial log")
	}
}

// cancelWriter ends the run at the first console output, as Ctrl-C does.
type cancelWriter struct{ cancel func() }

func (w cancelWriter) Write(b []byte) (int, error) { w.cancel(); return len(b), nil }

// TestAzureRunCancel: Ctrl-C while the log streams ends the run without
// an error and still deletes everything it made, in order.
func TestAzureRunCancel(t *testing.T) {
	f := cloudtest.NewARM()
	f.SerialLog, f.Step = strings.Repeat("boot output\n", 100), 12
	a := armTest(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.Console = cancelWriter{cancel}
	if _, err := a.Run(ctx); err != nil {
		t.Fatalf("got %v, want no error on cancel", err)
	}
	want := slices.Concat(created(), []string{"GET " + vmPath + "/instanceView", "POST " + vmPath + "/retrieveBootDiagnosticsData", "GET blob"}, removed(6, true))
	if !slices.Equal(f.Calls, want) {
		t.Errorf("got calls\n%q,\nwant\n%q", f.Calls, want)
	}
}

// TestAzureDeleteDiskOfVM: rm deletes the OS disk the VM names.
func TestAzureDeleteDiskOfVM(t *testing.T) {
	f := cloudtest.NewARM()
	a := armTest(t, f)
	tags := map[string]any{AzureRunTag: "vm1"}
	f.Put(vmPath, map[string]any{"tags": tags, "properties": map[string]any{"storageProfile": map[string]any{"osDisk": map[string]any{"name": "other-disk"}}}})
	f.Put("Microsoft.Compute/disks/other-disk", map[string]any{"tags": tags})
	f.Calls = nil
	if err := a.Delete(context.Background(), "vm1"); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.Calls, "DELETE Microsoft.Compute/disks/other-disk") || len(f.Resources) != 1 {
		t.Errorf("got calls %q and %v left, want the VM's disk deleted", f.Calls, keys(f.Resources))
	}
}
