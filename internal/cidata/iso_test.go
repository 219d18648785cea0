package cidata

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestWriteISO(t *testing.T) {
	var buf bytes.Buffer
	files := Seed([]byte("hello"), "iid", "host")
	if err := WriteISO(&buf, Label, files); err != nil {
		t.Fatal(err)
	}
	img := buf.Bytes()
	if len(img)%sector != 0 {
		t.Fatalf("size %d is not a whole number of sectors", len(img))
	}
	pvd := img[16*sector:]
	if string(pvd[1:6]) != "CD001" || pvd[0] != 1 || string(bytes.TrimRight(pvd[40:72], " ")) != "cidata" {
		t.Errorf("primary descriptor: got type %d id %q label %q", pvd[0], pvd[1:6], pvd[40:72])
	}
	if got := binary.LittleEndian.Uint32(pvd[80:]); int(got)*sector != len(img) {
		t.Errorf("volume size: got %d sectors, want %d", got, len(img)/sector)
	}
	// Walk the Joliet root and check each file's extent holds its bytes.
	svd := img[17*sector:]
	if string(svd[88:91]) != "%/E" {
		t.Fatalf("no Joliet descriptor")
	}
	root := binary.LittleEndian.Uint32(svd[156+2:])
	dir := img[int(root)*sector : int(root+1)*sector]
	found := map[string]string{}
	for off := 0; off < len(dir) && dir[off] != 0; off += int(dir[off]) {
		r := dir[off:]
		nameLen := int(r[32])
		if r[25]&2 != 0 {
			continue
		}
		name := ""
		for i := 0; i < nameLen; i += 2 {
			name += string(rune(binary.BigEndian.Uint16(r[33+i:])))
		}
		lba, size := binary.LittleEndian.Uint32(r[2:]), binary.LittleEndian.Uint32(r[10:])
		found[name] = string(img[int(lba)*sector : int(lba)*sector+int(size)])
	}
	for n, want := range files {
		if found[n] != string(want) {
			t.Errorf("%s: got %q, want %q", n, found[n], want)
		}
	}
}

func TestWriteISORejects(t *testing.T) {
	for _, name := range []string{"", "a/b", "x\x00"} {
		if err := WriteISO(&bytes.Buffer{}, Label, map[string][]byte{name: nil}); err == nil {
			t.Errorf("name %q: no error", name)
		}
	}
	if err := WriteISO(&bytes.Buffer{}, "a-label-longer-than-16", nil); err == nil {
		t.Error("long label: no error")
	}
}
