package run

import (
	"debug/pe"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeISO is the start of an ISO 9660 image with an El Torito catalog for
// platform (0 BIOS, 0xef EFI).
func fakeISO(platform byte) []byte {
	b := make([]byte, 20*2048)
	copy(b[16*2048:], "\x01CD001")
	copy(b[17*2048:], "\x00CD001\x01EL TORITO SPECIFICATION")
	binary.LittleEndian.PutUint32(b[17*2048+0x47:], 19)
	b[19*2048], b[19*2048+1] = 1, platform
	return b
}

func TestSniff(t *testing.T) {
	dir := t.TempDir()
	mbr := make([]byte, 4096)
	mbr[510], mbr[511] = 0x55, 0xaa
	gpt := slices.Clone(mbr)
	gpt[446+4] = 0xee
	tests := []struct {
		name   string
		data   []byte
		kind   kind
		format string
		efi    bool
	}{
		{"a.iso", fakeISO(0), kindISO, "", false},
		{"a-efi.iso", fakeISO(0xef), kindISO, "", true},
		{"a.efi", fakePE(pe.IMAGE_FILE_MACHINE_AMD64), kindUKI, "", true},
		{"a.qcow2", []byte("QFI\xfb\x00\x00\x00\x03"), kindDisk, "qcow2", false},
		{"a-efi.qcow2", []byte("QFI\xfb\x00\x00\x00\x03"), kindDisk, "qcow2", true},
		{"a.vmdk", []byte("KDMV\x01"), kindDisk, "vmdk", false},
		{"a.vhd", make([]byte, 1024), kindDisk, "vpc", false},
		{"a-bios.img", mbr, kindDisk, "raw", false},
		{"a-efi.img", gpt, kindDisk, "raw", true},
		{"disk.raw", gpt, kindDisk, "raw", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			if err := os.WriteFile(p, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			a, err := (&QEMU{Prefix: p}).find()
			if err != nil {
				t.Fatal(err)
			}
			if a.kind != tt.kind || a.format != tt.format || a.efi != tt.efi {
				t.Errorf("got kind %d format %q efi %v, want kind %d format %q efi %v", a.kind, a.format, a.efi, tt.kind, tt.format, tt.efi)
			}
		})
	}
}

func TestImageArgs(t *testing.T) {
	dir := t.TempDir()
	iso := filepath.Join(dir, "a.iso")
	os.WriteFile(iso, fakeISO(0), 0o644)
	disk := filepath.Join(dir, "a.qcow2")
	os.WriteFile(disk, []byte("QFI\xfb\x00\x00\x00\x03"), 0o644)
	uki := filepath.Join(dir, "a.efi")
	os.WriteFile(uki, fakePE(pe.IMAGE_FILE_MACHINE_AMD64), 0o644)
	ukiARM := filepath.Join(dir, "arm.efi")
	os.WriteFile(ukiARM, fakePE(pe.IMAGE_FILE_MACHINE_ARM64), 0o644)
	data := filepath.Join(dir, "data.img")
	os.WriteFile(data, nil, 0o644)
	kernel := filepath.Join(dir, "sys")
	os.WriteFile(kernel+"-kernel", kernelHeader("amd64"), 0o644)
	os.WriteFile(kernel+"-initrd.img", nil, 0o644)
	tests := []struct {
		name     string
		q        QEMU
		want     []string // consecutive arguments that must appear
		wantNot  string
		wantErr  string
		needOVMF bool
		needFW   string // firmware the case needs installed
	}{
		{name: "iso", q: QEMU{Image: iso}, want: []string{"-boot", "d"}, wantNot: "pflash"},
		{name: "iso keeps the board's devices", q: QEMU{Image: iso}, want: []string{"-nographic"}, wantNot: "-nodefaults"},
		{name: "kernel+initrd without the board's devices", q: QEMU{Prefix: kernel}, want: []string{"-nodefaults", "-nographic", "-serial", "mon:stdio"}},
		{name: "kernel+initrd detached", q: QEMU{Prefix: kernel, Detach: true, StateDir: filepath.Join(dir, "st5")},
			want: []string{"-display", "none", "-serial", "file:" + filepath.Join(dir, "st5", "console.log")}, wantNot: "mon:stdio"},
		{name: "qcow2 after data disks", q: QEMU{Prefix: disk, Disks: []Disk{{Path: data, Format: "raw"}}},
			want: []string{"-device", "virtio-blk-pci,drive=bootdisk,bootindex=0"}},
		{name: "uefi", q: QEMU{Image: iso, UEFI: true, StateDir: filepath.Join(dir, "st")}, want: []string{"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + OVMFCode}, needOVMF: true},
		{name: "uki boots from a generated ESP", q: QEMU{Image: uki, StateDir: filepath.Join(dir, "st3")},
			want: []string{"-drive", "if=none,id=bootdisk,file=" + filepath.Join(dir, "st3", "esp.img") + ",format=raw,snapshot=on"}, needOVMF: true},
		{name: "arm64 uki boots under AAVMF", q: QEMU{Image: ukiARM, StateDir: filepath.Join(dir, "st4")},
			want: []string{"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + machines["arm64"].codeFW}, needFW: machines["arm64"].codeFW},
		{name: "uki --arch mismatch", q: QEMU{Image: ukiARM, Arch: "amd64"}, wantErr: "is an arm64 image, but --arch amd64"},
		{name: "arm64 iso on a SCSI CD-ROM", q: QEMU{Image: iso, Arch: "arm64"}, want: []string{"-device", "scsi-cd,drive=cdrom,bootindex=0"}},
		{name: "detach", q: QEMU{Image: iso, Detach: true, StateDir: filepath.Join(dir, "st2")},
			want: []string{"-daemonize", "-pidfile", filepath.Join(dir, "st2", "qemu.pid")}, wantNot: "-nographic"},
		{name: "cmdline on an image", q: QEMU{Image: iso, ExtraCmdline: "x"}, wantErr: "--cmdline works with kernel+initrd builds only"},
		{name: "nothing there", q: QEMU{Prefix: filepath.Join(dir, "none")}, wantErr: "nothing to boot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat(OVMFCode); tt.needOVMF && err != nil {
				t.Skip("OVMF not installed")
			}
			if _, err := os.Stat(tt.needFW); tt.needFW != "" && err != nil {
				t.Skipf("%s not installed", tt.needFW)
			}
			tt.q.KVM = "off"
			args, err := tt.q.Args()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			joined := "\x00" + strings.Join(args, "\x00") + "\x00"
			if !strings.Contains(joined, "\x00"+strings.Join(tt.want, "\x00")+"\x00") {
				t.Errorf("got args %q, want them to contain %q", args, tt.want)
			}
			if tt.wantNot != "" && strings.Contains(joined, tt.wantNot) {
				t.Errorf("got args %q, want no %q", args, tt.wantNot)
			}
			// --disk disks come before the boot disk, so they are /dev/vda...
			if d, b := slices.Index(args, "file="+data+",if=virtio,format=raw"), slices.Index(args, "virtio-blk-pci,drive=bootdisk,bootindex=0"); d >= 0 && b >= 0 && d > b {
				t.Errorf("data disk after the boot disk: %q", args)
			}
		})
	}
}

// fakePE returns the smallest PE image debug/pe reads: a DOS header
// pointing at a COFF header of machine, with no sections.
func fakePE(machine uint16) []byte {
	// debug/pe reads 96 bytes of DOS header whatever e_lfanew says.
	b := make([]byte, 0x100)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], 0x40)
	copy(b[0x40:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[0x44:], machine)
	return b
}
