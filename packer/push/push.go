// Package push uploads an image Keel built into a cloud and registers it
// there as a bootable image (`keel push PROVIDER IMAGE`). There is one file
// per provider; each takes a context, its options and a progress reporter,
// talks to the cloud through the provider's own Go SDK with that SDK's
// standard credential chain, and returns a Result.
//
// Cloud errors that a user can fix (no credentials, a missing permission,
// a quota, a name already taken) come back as one line naming what to
// fix, so a script can show them as they are.
package push

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/keel-os/keel/packer/progress"
)

// Result is what a push made, printed by `keel push` (as JSON with
// --json).
type Result struct {
	// Provider is aws, azure, gcp, openstack or vcenter.
	Provider string `json:"provider"`
	// Name is the image's name in the cloud.
	Name string `json:"name"`
	// ID is what the cloud calls the image by: an AMI ID on AWS, the
	// image's selfLink on GCP, its resource ID on Azure, its UUID in
	// Glance, its datastore path ([DATASTORE] FOLDER/NAME) on vSphere.
	ID string `json:"id"`
	// Digest is the sha256 of the file that was uploaded.
	Digest string `json:"digest"`
	// Object is where the upload is: s3://BUCKET/KEY, gs://BUCKET/NAME,
	// the page blob's URL, the Glance image's file URL, or the datastore
	// file's URL.
	Object string `json:"object"`
	// BootMode is uefi or bios, as read from the image's partition table;
	// empty for vcenter, which uploads a file without registering it.
	BootMode string `json:"bootMode"`
	// Reused is set when an image of that name and digest was already
	// there and nothing was uploaded.
	Reused bool `json:"reused,omitempty"`
}

// ErrKind sorts the cloud errors a user can fix.
type ErrKind string

// The kinds of Error.
const (
	NoCredentials ErrKind = "no credentials"
	Denied        ErrKind = "permission denied"
	Quota         ErrKind = "quota exceeded"
	Conflict      ErrKind = "name conflict"
	NotFound      ErrKind = "not found"
)

// Error is a cloud error a user can fix: Msg is one line saying what
// failed and what to change; Err is the SDK's error, for errors.As.
type Error struct {
	Kind ErrKind
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k ErrKind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

// oneLine keeps the first line of a cloud's message, bounded: an error
// must fit the one line the command prints.
func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// fileDigest is the sha256 of a file, read once before the upload: the
// digest decides whether an image of the same name is this one (and the
// upload can be skipped), so it is needed before the upload starts.
func fileDigest(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", path, err)
	}
	return digestOf(h), n, nil
}

func digestOf(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

// countingReader reports the bytes read through it to a progress task.
type countingReader struct {
	r    io.Reader
	task progress.Task
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.task.Add(int64(n))
	return n, err
}

// description is the text every pushed image carries: the digest in it is
// how a re-push of the same file finds the image it already made.
func description(digest string) string { return "Keel image " + digest }
