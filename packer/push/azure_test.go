package push

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"

	"github.com/keel-os/keel/packer/cloudtest"
)

func testAzure(t *testing.T, connStr string, fa *fakeARM) *Azure {
	srv := httptest.NewTLSServer(fa)
	t.Cleanup(srv.Close)
	fa.url = srv.URL
	return &Azure{
		Subscription: testSub, ResourceGroup: testRG, Location: "westeurope", Container: "images",
		Credential: cloudtest.Token{}, ARMOptions: cloudtest.ARMOptions(srv), ConnectionString: connStr,
		BlobOptions:  &pageblob.ClientOptions{ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Millisecond}}},
		PollInterval: time.Millisecond, Parallel: 3,
	}
}

// testVHD is a fixed VHD of a 5 MiB disk with an all-zero MiB at 1 MiB:
// two 4 MiB chunks, the hole left out.
func testVHD(t *testing.T, mode BootMode) (string, []byte) {
	disk := testDisk(t, mode, 5*mib)
	clear(disk[mib : 2*mib])
	p := writeVHD(t, "sys.vhd", disk)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, data
}

// createContainer makes the container the tests upload to.
func createContainer(t *testing.T, connStr string) *container.Client {
	c, err := container.NewClientFromConnectionString(connStr, "images", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAzurePush(t *testing.T) {
	connStr, rec := azuriteEnv(t)
	blobs := createContainer(t, connStr)
	created := []string{"GET images/sys", "PUT images/sys", "GET operations/1", "GET operations/1", "GET images/sys"}
	// Put Page ranges for the test VHD: the first MiB, then the hole left
	// out, then the rest of chunk one and all of chunk two.
	allPages := []string{"bytes=0-1048575", "bytes=2097152-4194303", "bytes=4194304-5243391"}
	tests := []struct {
		name      string
		mode      BootMode
		existing  string // tag of an image already of that name; "same" for this file's digest
		replace   bool
		partial   bool // a blob of this file with its first MiB is there
		fail      map[string][]fakeAnswer
		opFail    string
		wantCalls []string
		wantPages []string
		reused    bool
		wantErr   ErrKind
		wantMsg   string
	}{
		{name: "bios image, V1", mode: BIOS, wantCalls: created, wantPages: allPages},
		{name: "uefi image, V2", mode: UEFI, wantCalls: created, wantPages: allPages},
		{name: "resumes a partial blob", mode: BIOS, partial: true, wantCalls: created, wantPages: allPages[1:]},
		{name: "same name, same digest: reused", mode: BIOS, existing: "same", reused: true, wantCalls: []string{"GET images/sys"}},
		{name: "same name, other contents: conflict", mode: BIOS, existing: "sha256:00", wantCalls: []string{"GET images/sys"}, wantErr: Conflict, wantMsg: "give --replace"},
		{
			name: "replace deletes after the upload", mode: BIOS, existing: "sha256:00", replace: true, wantPages: allPages,
			wantCalls: []string{"GET images/sys", "DELETE images/sys", "GET operations/1", "GET operations/1", "PUT images/sys", "GET operations/2", "GET operations/2", "GET images/sys"},
		},
		{
			name: "a 503 is retried", mode: BIOS, wantPages: allPages,
			fail:      map[string][]fakeAnswer{"PUT images/sys": {{503, armErr("ServiceUnavailable", "try again")}}},
			wantCalls: []string{"GET images/sys", "PUT images/sys", "PUT images/sys", "GET operations/1", "GET operations/1", "GET images/sys"},
		},
		{
			name: "403 names the permission", mode: BIOS,
			fail:      map[string][]fakeAnswer{"PUT images/sys": {{403, armErr("AuthorizationFailed", "The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.Compute/images/write' over scope '/subscriptions/s/resourceGroups/rg'.")}}},
			wantCalls: []string{"GET images/sys", "PUT images/sys"}, wantErr: Denied, wantMsg: "needs Microsoft.Compute/images/write on resource group rg",
		},
		{
			name: "409 conflict", mode: BIOS,
			fail:      map[string][]fakeAnswer{"PUT images/sys": {{409, armErr("Conflict", "Image 'sys' is in use.")}}},
			wantCalls: []string{"GET images/sys", "PUT images/sys"}, wantErr: Conflict, wantMsg: "--replace",
		},
		{
			name: "a quota ends the operation", mode: BIOS, opFail: armErr("OperationNotAllowed", "Operation could not be completed as it results in exceeding approved Images quota."),
			wantCalls: []string{"GET images/sys", "PUT images/sys", "GET operations/1", "GET operations/1"}, wantErr: Quota, wantMsg: "Usage + quotas",
		},
		{
			name: "refused token", mode: BIOS,
			fail:      map[string][]fakeAnswer{"GET images/sys": {{401, armErr("InvalidAuthenticationTokenTenant", "The access token is from the wrong issuer.")}}},
			wantCalls: []string{"GET images/sys"}, wantErr: NoCredentials, wantMsg: "az login",
		},
		{
			name: "no resource group", mode: BIOS,
			fail:      map[string][]fakeAnswer{"GET images/sys": {{404, armErr("ResourceGroupNotFound", "Resource group 'rg' could not be found.")}}},
			wantCalls: []string{"GET images/sys"}, wantErr: NotFound, wantMsg: "az group create --name rg",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			pb := blobs.NewPageBlobClient("sys.vhd")
			pb.Delete(ctx, nil)
			path, data := testVHD(t, tt.mode)
			digest := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
			if tt.partial {
				d := digest
				if _, err := pb.Create(ctx, int64(len(data)), &pageblob.CreateOptions{Metadata: map[string]*string{"keel_digest": &d}}); err != nil {
					t.Fatal(err)
				}
				if _, err := pb.UploadPages(ctx, nopCloser{bytes.NewReader(data[:mib])}, blob.HTTPRange{Offset: 0, Count: mib}, nil); err != nil {
					t.Fatal(err)
				}
			}
			rec.reset()
			fa := newFakeARM()
			if tt.existing != "" {
				tag := tt.existing
				if tag == "same" {
					tag = digest
				}
				fa.images["sys"] = map[string]any{"id": "/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Compute/images/sys", "name": "sys", "location": "westeurope", "tags": map[string]any{digestTag: tag}}
			}
			for k, v := range tt.fail {
				fa.fail[k] = v
			}
			fa.opFail = tt.opFail
			rep := &countingReporter{}
			a := testAzure(t, connStr, fa)
			a.Replace, a.Progress = tt.replace, rep
			res, err := a.Push(ctx, path)
			if !slices.Equal(fa.calls, tt.wantCalls) {
				t.Errorf("got ARM calls %q, want %q", fa.calls, tt.wantCalls)
			}
			for _, h := range fa.auth {
				if h != "Bearer test-token" {
					t.Errorf("got Authorization %q, want the credential's bearer token", h)
				}
			}
			if tt.wantErr != "" {
				if !IsKind(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("got error %v, want one line, a %s error containing %q", err, tt.wantErr, tt.wantMsg)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantID := "/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Compute/images/sys"
			if res.ID != wantID || res.Digest != digest || res.Name != "sys" || !strings.HasSuffix(res.Object, "/devstoreaccount1/images/sys.vhd") || res.BootMode != string(tt.mode) || res.Reused != tt.reused {
				t.Errorf("got result %+v, want ID %s, name sys, digest %s, object .../images/sys.vhd, boot mode %s, reused %v", res, wantID, digest, tt.mode, tt.reused)
			}
			if tt.reused {
				if len(rec.pages)+len(rec.other) != 0 {
					t.Errorf("got blob requests %q %q, want none", rec.other, rec.pages)
				}
				return
			}
			if got := slices.Sorted(slices.Values(rec.pages)); !slices.Equal(got, tt.wantPages) {
				t.Errorf("got Put Page ranges %q, want %q", got, tt.wantPages)
			}
			checkBlob(t, pb, data, digest)
			if rep.bytes != int64(len(data)) || rep.total != int64(len(data)) || !rep.done {
				t.Errorf("got progress %d of %d (done %v), want %d of %d, done", rep.bytes, rep.total, rep.done, len(data), len(data))
			}
			checkImageBody(t, fa.put, tt.mode, digest, res.Object)
		})
	}
}

// checkBlob reads the blob back from Azurite: its bytes, its metadata and
// which pages hold data.
func checkBlob(t *testing.T, pb *pageblob.Client, data []byte, digest string) {
	t.Helper()
	ctx := context.Background()
	dl, err := pb.DownloadStream(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(dl.Body)
	dl.Body.Close()
	if !bytes.Equal(got, data) {
		t.Errorf("got a blob of %d bytes that differs from the file's %d", len(got), len(data))
	}
	if d := dl.Metadata["Keel_digest"]; d == nil || *d != digest {
		t.Errorf("got blob metadata %v, want keel_digest %s", dl.Metadata, digest)
	}
	var have []pageRange
	pager := pb.NewGetPageRangesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.PageRange {
			have = append(have, pageRange{*r.Start, *r.End + 1})
		}
	}
	var ranges []string
	for _, r := range mergeRanges(have) {
		ranges = append(ranges, fmt.Sprintf("%d-%d", r.start, r.end-1))
	}
	if want := []string{"0-1048575", fmt.Sprintf("2097152-%d", len(data)-1)}; !slices.Equal(ranges, want) {
		t.Errorf("got page ranges %q, want %q: the zero MiB left out", ranges, want)
	}
}

// checkImageBody checks the managed image keel asked for.
func checkImageBody(t *testing.T, body map[string]any, mode BootMode, digest, blobURL string) {
	t.Helper()
	want := map[string]any{
		"location": "westeurope",
		"tags":     map[string]any{digestTag: digest},
		"properties": map[string]any{
			"hyperVGeneration": map[BootMode]string{BIOS: "V1", UEFI: "V2"}[mode],
			"storageProfile": map[string]any{"osDisk": map[string]any{
				"osType": "Linux", "osState": "Generalized", "blobUri": blobURL, "caching": "ReadWrite",
			}},
		},
	}
	g, _ := json.Marshal(body)
	var got map[string]any
	json.Unmarshal(g, &got)
	delete(got, "id")
	delete(got, "name")
	if p, ok := got["properties"].(map[string]any); ok {
		delete(p, "provisioningState")
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(gj, wj) {
		t.Errorf("got image body %s, want %s", gj, wj)
	}
}

// TestAzureBlobErrors maps what Blob Storage answers to one line each.
func TestAzureBlobErrors(t *testing.T) {
	connStr, _ := azuriteEnv(t)
	path, _ := testVHD(t, BIOS)
	a := testAzure(t, connStr, newFakeARM())
	a.Container = "missing"
	_, err := a.Push(context.Background(), path)
	if !IsKind(err, NotFound) || !strings.Contains(err.Error(), "az storage container create") {
		t.Errorf("missing container: got %v, want a not-found error saying how to create it", err)
	}
	bad := strings.Replace(connStr, azuriteKey, "AAAA"+azuriteKey[4:], 1)
	a = testAzure(t, bad, newFakeARM())
	_, err = a.Push(context.Background(), path)
	if !IsKind(err, NoCredentials) || !strings.Contains(err.Error(), "refused the key in AZURE_STORAGE_CONNECTION_STRING") {
		t.Errorf("wrong account key: got %v, want a no-credentials error naming the connection string", err)
	}
	t.Log(err)
}

// TestAzureNoCredentials: a credential that finds nothing stops the push
// before any call, in one line saying how to log in; so does
// DefaultAzureCredential itself in an empty environment.
func TestAzureNoCredentials(t *testing.T) {
	path, _ := testVHD(t, BIOS)
	fa := newFakeARM()
	a := testAzure(t, "UseDevelopmentStorage=true", fa)
	a.Credential = cloudtest.Token{Err: errors.New("DefaultAzureCredential: failed to acquire a token")}
	_, err := a.Push(context.Background(), path)
	if !IsKind(err, NoCredentials) || !strings.Contains(err.Error(), "az login") || len(fa.calls) != 0 {
		t.Errorf("got %v after calls %q, want a no-credentials error naming az login and no calls", err, fa.calls)
	}
	for _, k := range []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_USERNAME", "IDENTITY_ENDPOINT", "MSI_ENDPOINT"} {
		t.Setenv(k, "")
	}
	// Leave managed identity out: it would ask the instance metadata
	// service, which is not there, and wait for it.
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "dev")
	t.Setenv("PATH", t.TempDir()) // no az, azd or pwsh to ask
	a.Credential = nil
	_, err = a.Push(context.Background(), path)
	if !IsKind(err, NoCredentials) || !strings.Contains(err.Error(), "az login") {
		t.Errorf("DefaultAzureCredential in an empty environment: got %v, want a no-credentials error naming az login", err)
	}
}

func TestAzureArgs(t *testing.T) {
	path, _ := testVHD(t, BIOS)
	for _, tt := range []struct {
		change func(*Azure)
		want   string
	}{
		{func(a *Azure) { a.Subscription = "" }, "no subscription: give --subscription"},
		{func(a *Azure) { a.ResourceGroup = "" }, "no resource group"},
		{func(a *Azure) { a.Location = "" }, "no location"},
		{func(a *Azure) { a.ConnectionString = ""; a.StorageAccount = "" }, "no storage account"},
		{func(a *Azure) { a.StorageAccount = "Bad_Name" }, `storage account name "Bad_Name"`},
		{func(a *Azure) { a.Container = "A" }, `container name "A"`},
		{func(a *Azure) { a.Name = "-x" }, `image name "-x" is not valid`},
	} {
		t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
		a := testAzure(t, "UseDevelopmentStorage=true", newFakeARM())
		tt.change(a)
		if _, err := a.Push(context.Background(), path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want an error containing %q", err, tt.want)
		}
	}
}

// TestAzureReal pushes to a real subscription, only when a maintainer
// names the resource group, storage account and a vhd image
// (docs/clouds.md); it deletes the image it made (the blob stays).
func TestAzureReal(t *testing.T) {
	rg, account, image := os.Getenv("KEEL_TEST_AZURE_RESOURCE_GROUP"), os.Getenv("KEEL_TEST_AZURE_STORAGE_ACCOUNT"), os.Getenv("KEEL_TEST_AZURE_IMAGE")
	if rg == "" || account == "" || image == "" {
		t.Skip("talks to Azure: set KEEL_TEST_AZURE_RESOURCE_GROUP, KEEL_TEST_AZURE_STORAGE_ACCOUNT, KEEL_TEST_AZURE_LOCATION and KEEL_TEST_AZURE_IMAGE (a -format vhd file), with AZURE_SUBSCRIPTION_ID and credentials (az login), to run it")
	}
	ctx := context.Background()
	a := &Azure{Subscription: os.Getenv("AZURE_SUBSCRIPTION_ID"), ResourceGroup: rg, StorageAccount: account, Location: os.Getenv("KEEL_TEST_AZURE_LOCATION"),
		Name: fmt.Sprintf("keel-test-%d", time.Now().Unix()), Log: testLog{t}}
	res, err := a.Push(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pushed %+v", res)
	if again, err := a.Push(ctx, image); err != nil || !again.Reused {
		t.Errorf("second push: got %+v, %v, want the image reused", again, err)
	}
	if err := a.DeleteImage(ctx, a.Name); err != nil {
		t.Errorf("clean up: %v (delete image %s by hand)", err, res.ID)
	}
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

// TestAzureBlobErrorsWithToken maps what Blob Storage answers a signed-in
// identity (Azurite answers shared keys only, so these are the recorded
// codes).
func TestAzureBlobErrorsWithToken(t *testing.T) {
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
	a := &Azure{StorageAccount: "acct", ResourceGroup: testRG, Location: "westeurope"}
	for _, tt := range []struct {
		err  error
		kind ErrKind
		want string
	}{
		{&azcore.ResponseError{StatusCode: 403, ErrorCode: "AuthorizationPermissionMismatch"}, Denied, "Storage Blob Data Contributor on storage account acct"},
		{&azcore.ResponseError{StatusCode: 401, ErrorCode: "InvalidAuthenticationInfo"}, NoCredentials, "az login"},
		{&azcore.ResponseError{StatusCode: 404, ErrorCode: "ContainerNotFound"}, NotFound, "az storage container create --auth-mode login --account-name acct --name keel"},
		{&azcore.ResponseError{StatusCode: 412, ErrorCode: "LeaseIdMissing"}, Conflict, "leased"},
		{fmt.Errorf("put: %w", &net.DNSError{Err: "no such host", Name: "acct.blob.core.windows.net", IsNotFound: true}), NotFound, "az storage account create --name acct"},
	} {
		got := a.mapBlobErr(tt.err, "upload")
		if !IsKind(got, tt.kind) || !strings.Contains(got.Error(), tt.want) {
			t.Errorf("%v: got %v, want a %s error containing %q", tt.err, got, tt.kind, tt.want)
		}
	}
}
