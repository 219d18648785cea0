package run

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/keel-os/keel/packer/disk"
)

// OVMF from Debian's ovmf package: the firmware code is shared read-only,
// the variable store is copied once per state directory.
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS.fd"
	// OVMFSecureCode enforces Secure Boot; it needs QEMU's SMM emulation.
	OVMFSecureCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	// OVMFTestKeysVars has Debian's test ("snakeoil") key enrolled as PK,
	// KEK and db, with Secure Boot on: images signed with
	// /usr/share/ovmf/PkKek-1-snakeoil.{key,pem} boot, others are refused.
	OVMFTestKeysVars = "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd"
)

// ensureState makes StateDir, or a temporary one when none was given.
func (q *QEMU) ensureState() error {
	if q.StateDir == "" {
		d, err := os.MkdirTemp("", "keel-qemu-")
		if err != nil {
			return fmt.Errorf("creating state directory: %w", err)
		}
		q.StateDir, q.tempState = d, true
		return nil
	}
	if err := os.MkdirAll(q.StateDir, 0o755); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	return nil
}

// firmware returns the pflash arguments for m's UEFI firmware (OVMF,
// AAVMF), copying the variable store into StateDir the first time. With
// SecureBoot (amd64 only) the variable store comes from SecureBootVars
// (Debian's test keys when empty) and is kept apart from a plain UEFI one,
// so one state directory can serve both.
func (q *QEMU) firmware(m machine) ([]string, error) {
	code, template, vars := m.codeFW, m.varsFW, filepath.Join(q.StateDir, filepath.Base(m.varsFW))
	var board []string
	if q.SecureBoot {
		if m.secureCodeFW == "" {
			return nil, fmt.Errorf("--secure-boot is supported for amd64 guests only")
		}
		code, template, vars = m.secureCodeFW, q.SecureBootVars, filepath.Join(q.StateDir, "OVMF_VARS.secboot.fd")
		if template == "" {
			template = OVMFTestKeysVars
		}
		// The secure variable store is writable only from SMM.
		board = []string{"-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on"}
	}
	if q.Firmware != "" {
		if _, err := os.Stat(q.Firmware); err != nil {
			return nil, fmt.Errorf("--fw: %w", err)
		}
		code = q.Firmware
	} else if _, err := os.Stat(code); err != nil {
		return nil, fmt.Errorf("UEFI boot needs %s: install Debian's %s package (%w)", filepath.Base(code), m.fwPackage, err)
	}
	if _, err := os.Stat(vars); os.IsNotExist(err) {
		if err := copyFile(template, vars); err != nil {
			return nil, fmt.Errorf("copying the UEFI variable store: %w", err)
		}
	}
	return append(board,
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars,
	), nil
}

// espFor returns a GPT disk in StateDir whose EFI system partition holds
// the UKI as arch's loader, made again only when the UKI is newer.
func (q *QEMU) espFor(uki, arch string) (string, error) {
	esp := filepath.Join(q.StateDir, "esp.img")
	ui, err := os.Stat(uki)
	if err != nil {
		return "", err
	}
	if ei, err := os.Stat(esp); err == nil && ei.ModTime().After(ui.ModTime()) {
		return esp, nil
	}
	if err := disk.RawEFI(esp, uki, arch, 0); err != nil {
		return "", fmt.Errorf("making an EFI system partition for %s: %w", uki, err)
	}
	return esp, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
