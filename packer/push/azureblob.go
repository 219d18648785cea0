package push

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"

	"github.com/keel-os/keel/packer/progress"
)

const (
	// pageChunk is what one Put Page sends at most (Azure's limit).
	pageChunk = 4 << 20
	// zeroRun is the step at which all-zero parts of a chunk are left
	// out: a page blob reads as zeros where nothing was written.
	zeroRun = 64 << 10
)

// connString is the storage connection string from the options or the
// environment, if any.
func (a *Azure) connString() string {
	if a.ConnectionString != "" {
		return a.ConnectionString
	}
	return os.Getenv("AZURE_STORAGE_CONNECTION_STRING")
}

// pageBlob reaches the blob with the connection string when there is
// one, else with the token credential (Entra ID). (Not through azblob's
// container package: it links Apache Arrow for blob listings keel does
// not make.)
func (a *Azure) pageBlob(cred azcore.TokenCredential, name string) (*pageblob.Client, error) {
	if cs := a.connString(); cs != "" {
		if a.StorageAccount != "" && connAccount(cs) != a.StorageAccount {
			return nil, fmt.Errorf("azure: AZURE_STORAGE_CONNECTION_STRING is for another storage account than --storage-account %s: unset one of them", a.StorageAccount)
		}
		c, err := pageblob.NewClientFromConnectionString(cs, a.container(), name, a.BlobOptions)
		if err != nil {
			return nil, fmt.Errorf("azure: AZURE_STORAGE_CONNECTION_STRING: %w", err)
		}
		return c, nil
	}
	url := fmt.Sprintf("https://%s.blob.core.windows.net/%s/%s", a.StorageAccount, a.container(), name)
	c, err := pageblob.NewClient(url, cred, a.BlobOptions)
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	return c, nil
}

// upload sends the VHD to a page blob: chunks of 4 MiB in parallel, each
// without its all-zero 64 KiB runs. A blob left by an interrupted push of
// the same file (same size, same digest in its metadata) is resumed: the
// pages it already holds are not sent again.
func (a *Azure) upload(ctx context.Context, pb *pageblob.Client, path, digest string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("azure: %w", err)
	}
	defer f.Close()
	where := pb.URL()
	have, err := a.resumable(ctx, pb, digest, size)
	if err != nil {
		return err
	}
	if have == nil {
		_, err := pb.Create(ctx, size, &pageblob.CreateOptions{
			Metadata:    map[string]*string{"keel_digest": to.Ptr(digest)},
			HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("application/octet-stream")},
		})
		if err != nil {
			return a.mapBlobErr(err, "create page blob "+where)
		}
	} else {
		a.logf("resuming the upload to %s\n", where)
	}

	task := progress.Or(a.Progress).Start(progress.Upload, where, size)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan int64)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	workers := a.Parallel
	if workers <= 0 {
		workers = 8
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, pageChunk)
			for off := range chunks {
				if err := a.sendChunk(ctx, pb, f, buf, off, size, have); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					mu.Unlock()
					continue
				}
				task.Add(min(pageChunk, size-off))
			}
		}()
	}
	for off := int64(0); off < size && ctx.Err() == nil; off += pageChunk {
		select {
		case chunks <- off:
		case <-ctx.Done():
		}
	}
	close(chunks)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	task.Done(firstErr)
	if firstErr != nil {
		return firstErr
	}
	progress.Or(a.Progress).Step(progress.Step{Kind: progress.Upload, Name: where, Size: size})
	return nil
}

// sendChunk sends the chunk at off, run by run, leaving out the all-zero
// runs and the runs the blob already holds.
func (a *Azure) sendChunk(ctx context.Context, pb *pageblob.Client, f *os.File, buf []byte, off, size int64, have []pageRange) error {
	n := min(pageChunk, size-off)
	if _, err := f.ReadAt(buf[:n], off); err != nil {
		return fmt.Errorf("azure: read %s: %w", f.Name(), err)
	}
	for _, r := range dataRuns(buf[:n]) {
		start, end := off+r[0], off+r[1]
		if covered(have, start, end) {
			continue
		}
		data := buf[r[0]:r[1]]
		sum := md5.Sum(data)
		_, err := pb.UploadPages(ctx, streaming.NopCloser(bytes.NewReader(data)), blob.HTTPRange{Offset: start, Count: end - start},
			&pageblob.UploadPagesOptions{TransactionalValidation: blob.TransferValidationTypeMD5(sum[:])})
		if err != nil {
			return a.mapBlobErr(err, fmt.Sprintf("upload pages %d-%d to %s", start, end-1, pb.URL()))
		}
	}
	return nil
}

// dataRuns are the [start, end) runs of b, in steps of zeroRun, that hold
// a byte other than zero; neighbouring runs are merged into one.
func dataRuns(b []byte) [][2]int64 {
	var runs [][2]int64
	for i := 0; i < len(b); i += zeroRun {
		j := min(i+zeroRun, len(b))
		if allZero(b[i:j]) {
			continue
		}
		if k := len(runs) - 1; k >= 0 && runs[k][1] == int64(i) {
			runs[k][1] = int64(j)
		} else {
			runs = append(runs, [2]int64{int64(i), int64(j)})
		}
	}
	return runs
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// pageRange is a range of a page blob that holds data, [start, end).
type pageRange struct{ start, end int64 }

func covered(have []pageRange, start, end int64) bool {
	for _, r := range have {
		if r.start <= start && end <= r.end {
			return true
		}
	}
	return false
}

// resumable returns the ranges an existing blob of this file already
// holds, or nil when there is no such blob (there is none, or it holds
// something else and is to be overwritten). A page written by one Put
// Page is there whole or not at all, so a range listed was sent entire.
func (a *Azure) resumable(ctx context.Context, pb *pageblob.Client, digest string, size int64) ([]pageRange, error) {
	props, err := pb.GetProperties(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, a.mapBlobErr(err, "read "+pb.URL())
	}
	d := props.Metadata["Keel_digest"]
	if d == nil {
		d = props.Metadata["keel_digest"]
	}
	if d == nil || *d != digest || props.ContentLength == nil || *props.ContentLength != size || props.BlobType == nil || *props.BlobType != blob.BlobTypePageBlob {
		return nil, nil
	}
	have := []pageRange{}
	pager := pb.NewGetPageRangesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, a.mapBlobErr(err, "list the pages of "+pb.URL())
		}
		for _, r := range page.PageRange {
			if r.Start != nil && r.End != nil {
				have = append(have, pageRange{*r.Start, *r.End + 1})
			}
		}
	}
	return mergeRanges(have), nil
}

// mergeRanges sorts ranges and joins those that touch: Azure lists a
// blob's pages merged, Azurite as they were written, and a run may span
// two writes.
func mergeRanges(rs []pageRange) []pageRange {
	slices.SortFunc(rs, func(a, b pageRange) int { return cmp.Compare(a.start, b.start) })
	out := rs[:0]
	for _, r := range rs {
		if k := len(out) - 1; k >= 0 && r.start <= out[k].end {
			out[k].end = max(out[k].end, r.end)
			continue
		}
		out = append(out, r)
	}
	return out
}

// connAccount is the AccountName of a connection string.
func connAccount(cs string) string {
	for _, kv := range strings.Split(cs, ";") {
		if v, ok := strings.CutPrefix(kv, "AccountName="); ok {
			return v
		}
	}
	return "(the connection string's)"
}

// mapBlobErr turns a Blob Storage error into one line naming what to fix.
func (a *Azure) mapBlobErr(err error, what string) error {
	account := a.StorageAccount
	if cs := a.connString(); cs != "" {
		account = connAccount(cs)
		// With a connection string a refusal is of its account key.
		var re *azcore.ResponseError
		if bloberror.HasCode(err, bloberror.AuthorizationFailure, bloberror.AuthenticationFailed, bloberror.InvalidAuthenticationInfo) || errors.As(err, &re) && re.StatusCode == 403 {
			return &Error{Kind: NoCredentials, Msg: fmt.Sprintf("azure: %s: storage account %s refused the key in AZURE_STORAGE_CONNECTION_STRING: copy it again (az storage account show-connection-string), or unset the variable to sign in with az login", what, account), Err: err}
		}
	}
	switch {
	case bloberror.HasCode(err, bloberror.ContainerNotFound):
		return &Error{Kind: NotFound, Msg: fmt.Sprintf("azure: %s: container %s does not exist in storage account %s: create it (az storage container create --auth-mode login --account-name %s --name %s) or give another --container", what, a.container(), account, account, a.container()), Err: err}
	case bloberror.HasCode(err, bloberror.AuthorizationPermissionMismatch, bloberror.AuthorizationFailure, bloberror.InsufficientAccountPermissions):
		return &Error{Kind: Denied, Msg: fmt.Sprintf("azure: %s: permission denied: the identity needs the role Storage Blob Data Contributor on storage account %s (data action Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write)", what, account), Err: err}
	case bloberror.HasCode(err, bloberror.InvalidAuthenticationInfo, bloberror.NoAuthenticationInformation, bloberror.AuthenticationFailed):
		return &Error{Kind: NoCredentials, Msg: fmt.Sprintf("azure: %s: the credentials were refused: run `az login` again, or check AZURE_STORAGE_CONNECTION_STRING", what), Err: err}
	case bloberror.HasCode(err, bloberror.LeaseIDMissing, bloberror.LeaseAlreadyPresent, bloberror.LeaseIDMismatchWithBlobOperation):
		return &Error{Kind: Conflict, Msg: fmt.Sprintf("azure: %s: the blob is leased (a disk or VM uses it): give another --name", what), Err: err}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return &Error{Kind: NotFound, Msg: fmt.Sprintf("azure: %s: storage account %s does not exist (%s is not found): create it (az storage account create --name %s --resource-group %s --location %s --sku Standard_LRS) or give another --storage-account", what, account, dns.Name, account, a.ResourceGroup, a.Location), Err: err}
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		if re.StatusCode == 403 {
			return &Error{Kind: Denied, Msg: fmt.Sprintf("azure: %s: permission denied (%s): the identity needs the role Storage Blob Data Contributor on storage account %s", what, re.ErrorCode, account), Err: err}
		}
		return fmt.Errorf("azure: %s: HTTP %d %s", what, re.StatusCode, re.ErrorCode)
	}
	return fmt.Errorf("azure: %s: %w", what, err)
}
