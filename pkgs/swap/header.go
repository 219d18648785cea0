package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// The Linux swap area header (version 1, what mkswap writes and swapon
// reads; see the kernel's include/linux/swap.h, union swap_header). It
// fills the first page: 1024 bytes left for a boot block, then the info
// fields, and the signature in the page's last 10 bytes.
const (
	offVersion  = 1024
	offLastPage = 1028
	offBadPages = 1032
	offUUID     = 1036
	offLabel    = 1052
	labelLen    = 16
	signature   = "SWAPSPACE2"
	// minPages is the smallest area mkswap makes.
	minPages = 10
)

// header describes a swap area.
type header struct {
	PageSize int
	LastPage uint32 // index of the last usable page
	UUID     [16]byte
	Label    string
}

// newHeader describes a swap area of size bytes with a random UUID.
func newHeader(size int64, pageSize int, label string) (header, error) {
	pages := size / int64(pageSize)
	if pages < minPages {
		return header{}, fmt.Errorf("a swap area of %d bytes is too small: want at least %d pages of %d bytes", size, minPages, pageSize)
	}
	if pages-1 > 0xffffffff {
		return header{}, fmt.Errorf("a swap area of %d bytes is too large for the swap header", size)
	}
	if len(label) > labelLen {
		return header{}, fmt.Errorf("swap label %q is longer than %d bytes", label, labelLen)
	}
	h := header{PageSize: pageSize, LastPage: uint32(pages - 1), Label: label}
	if _, err := rand.Read(h.UUID[:]); err != nil {
		return header{}, fmt.Errorf("making a UUID: %w", err)
	}
	h.UUID[6] = h.UUID[6]&0x0f | 0x40 // version 4
	h.UUID[8] = h.UUID[8]&0x3f | 0x80 // RFC 4122 variant
	return h, nil
}

// marshal returns the header page.
func (h header) marshal() []byte {
	p := make([]byte, h.PageSize)
	binary.LittleEndian.PutUint32(p[offVersion:], 1)
	binary.LittleEndian.PutUint32(p[offLastPage:], h.LastPage)
	binary.LittleEndian.PutUint32(p[offBadPages:], 0)
	copy(p[offUUID:], h.UUID[:])
	copy(p[offLabel:offLabel+labelLen], h.Label)
	copy(p[h.PageSize-len(signature):], signature)
	return p
}

// parseHeader reads a header page written by marshal or by mkswap.
func parseHeader(p []byte) (header, error) {
	if len(p) < offLabel+labelLen || !bytes.HasSuffix(p, []byte(signature)) {
		return header{}, errors.New("no swap signature")
	}
	if v := binary.LittleEndian.Uint32(p[offVersion:]); v != 1 {
		return header{}, fmt.Errorf("swap header version %d, want 1", v)
	}
	h := header{PageSize: len(p), LastPage: binary.LittleEndian.Uint32(p[offLastPage:])}
	copy(h.UUID[:], p[offUUID:])
	h.Label = string(bytes.TrimRight(p[offLabel:offLabel+labelLen], "\x00"))
	return h, nil
}

// uuidString formats the UUID as blkid and swaplabel print it.
func (h header) uuidString() string {
	u := h.UUID
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
