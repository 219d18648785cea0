// Command crypto opens an encrypted volume at boot, with the path and
// command line of LinuxKit's dm-crypt package (its crypto.sh):
//
//	crypto [-l|--luks] [-k|--key-file FILE] NAME DEVICE
//
// maps DEVICE to /dev/mapper/NAME with the key in FILE (default "key"; a
// relative name is read from /etc/dm-crypt). With -l the volume is LUKS: a
// device without a LUKS header gets one first (luksFormat), then it is
// opened. Without -l it is a plain dm-crypt mapping. Either way a mapping
// that holds no filesystem is filled with zeros (so the device holds only
// ciphertext) and gets ext4. The cipher of a new volume is LinuxKit's,
// aes-cbc-essiv:sha256.
//
// The work is Debian's cryptsetup and mkfs.ext4; this program is the
// command line around them.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func main() {
	o, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "crypto: %v\n\n%s", err, usage)
		os.Exit(1)
	}
	if o.help {
		fmt.Print(usage)
		return
	}
	sys := system{runner: execRunner{}, probe: probeFile, zero: zero, lockDir: "/run/cryptsetup", mapperDir: "/dev/mapper"}
	if err := run(o, sys); err != nil {
		fmt.Fprintf(os.Stderr, "crypto: %v\n", err)
		os.Exit(1)
	}
}

// runner runs a program to completion; output is its combined output.
type runner interface {
	run(name string, args ...string) (output []byte, err error)
}

type execRunner struct{}

func (execRunner) run(name string, args ...string) ([]byte, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// cipher is what LinuxKit's crypto.sh gives a new volume.
const cipher = "aes-cbc-essiv:sha256"

// system is what run works on, so tests can fake it.
type system struct {
	runner
	probe     func(path string) (string, error) // the filesystem on a device, "" for none
	zero      func(path string) error           // fills a device with zeros
	lockDir   string                            // cryptsetup's lock directory
	mapperDir string                            // where mappings appear
}

// run maps the volume and makes sure it holds a filesystem.
func run(o options, sys system) error {
	r := sys.runner
	key := o.keyFile
	if !strings.HasPrefix(key, "/") {
		key = "/etc/dm-crypt/" + key
	}
	if st, err := os.Stat(key); err != nil || !st.Mode().IsRegular() {
		return fmt.Errorf("no key file %s: put the key there (a files: entry such as etc/dm-crypt/key, with /etc/dm-crypt bound into this container) or name another with --key-file", key)
	}
	// cryptsetup's lock directory; LinuxKit's script makes it too.
	if err := os.MkdirAll(sys.lockDir, 0o700); err != nil {
		return fmt.Errorf("making cryptsetup's lock directory: %w", err)
	}
	mapped := sys.mapperDir + "/" + o.name
	if o.luks {
		fmt.Printf("crypto: creating a dm-crypt LUKS mapping for %s under %s\n", o.device, mapped)
		if _, err := r.run("cryptsetup", "isLuks", o.device); err != nil {
			fmt.Printf("crypto: %s has no LUKS header: formatting it as LUKS with the key in %s\n", o.device, key)
			if _, err := r.run("cryptsetup", "--batch-mode", "--key-file", key, "--cipher", cipher, "luksFormat", o.device); err != nil {
				return err
			}
		}
		// --disable-keyring: the volume key goes into the dm table, not the
		// kernel keyring, which the container's seccomp profile closes
		// (add_key, keyctl) as Docker's does; LUKS2 would use it.
		if _, err := r.run("cryptsetup", "--disable-keyring", "--key-file", key, "luksOpen", o.device, o.name); err != nil {
			return err
		}
	} else {
		fmt.Printf("crypto: creating a plain dm-crypt mapping for %s under %s\n", o.device, mapped)
		if _, err := r.run("cryptsetup", "--key-file", key, "--cipher", cipher, "create", o.name, o.device); err != nil {
			return err
		}
	}
	fs, err := sys.probe(mapped)
	if err != nil {
		return err
	}
	if fs != "" {
		fmt.Printf("crypto: %s holds a filesystem (%s): keeping it\n", mapped, fs)
		return nil
	}
	fmt.Printf("crypto: %s holds no filesystem: zeroing it and making ext4\n", mapped)
	if err := sys.zero(mapped); err != nil {
		return err
	}
	if _, err := r.run("mkfs.ext4", "-q", mapped); err != nil {
		return err
	}
	fmt.Printf("crypto: %s is ready\n", mapped)
	return nil
}
