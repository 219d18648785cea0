// Package blockdev forwards to internal/blockdev, where the library now
// lives (it is shared by the format and mount programs, so it belongs to
// neither's folder).
//
// Deprecated: import github.com/keel-os/keel/internal/blockdev. This
// package remains only because qemu-test/disk_test.go still imports it;
// once that import changes, delete this folder.
package blockdev

import (
	"io"

	"github.com/keel-os/keel/internal/blockdev"
)

// Ext is internal/blockdev's Ext.
type Ext = blockdev.Ext

// ReadExt is internal/blockdev's ReadExt.
func ReadExt(r io.ReaderAt) (Ext, error) { return blockdev.ReadExt(r) }
