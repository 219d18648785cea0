// Package blockdev lists the block devices the kernel reports in sysfs and
// tells what a device holds by reading its first blocks. It is shared by
// the format and mount packages, so both agree on what "empty" and "ext4"
// mean.
package blockdev

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Device is one block device: a whole disk or a partition.
type Device struct {
	Name     string // kernel name, e.g. vda1
	Path     string // device node, e.g. /dev/vda1
	Disk     bool   // a whole disk, not a partition
	Parent   string // for a partition, its disk's name
	PartN    int    // for a partition, its number
	ReadOnly bool
	Size     int64 // bytes
}

// virtualPrefixes name devices that never hold a user's disk: RAM disks,
// loop and network block devices, optical drives, device-mapper volumes.
var virtualPrefixes = []string{"loop", "ram", "zram", "nbd", "sr", "dm-", "md"}

// Virtual reports whether d is a device that format and mount skip when
// they search for a disk by themselves.
func (d Device) Virtual() bool {
	name := d.Name
	if !d.Disk {
		name = d.Parent
	}
	for _, p := range virtualPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// List reads sysRoot/class/block (sysRoot is /sys in a system) and returns
// every block device sorted by name, device nodes under devRoot (/dev).
func List(sysRoot, devRoot string) ([]Device, error) {
	dir := filepath.Join(sysRoot, "class", "block")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing block devices: %w", err)
	}
	var out []Device
	for _, e := range entries {
		d, err := readDevice(filepath.Join(dir, e.Name()), devRoot)
		if err != nil {
			return nil, fmt.Errorf("block device %s: %w", e.Name(), err)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func readDevice(dir, devRoot string) (Device, error) {
	d := Device{Name: filepath.Base(dir), Disk: true}
	ev, err := readUevent(filepath.Join(dir, "uevent"))
	if err != nil {
		return d, err
	}
	if ev["DEVNAME"] != "" {
		d.Name = ev["DEVNAME"]
	}
	d.Path = filepath.Join(devRoot, d.Name)
	if ev["DEVTYPE"] == "partition" {
		d.Disk = false
		d.PartN, _ = strconv.Atoi(ev["PARTN"])
		// A partition's sysfs directory sits inside its disk's.
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return d, err
		}
		d.Parent = filepath.Base(filepath.Dir(real))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "ro")); err == nil {
		d.ReadOnly = strings.TrimSpace(string(b)) == "1"
	}
	if b, err := os.ReadFile(filepath.Join(dir, "size")); err == nil {
		sectors, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		d.Size = sectors * 512 // sysfs counts 512-byte sectors whatever the device's
	}
	return d, nil
}

func readUevent(p string) (map[string]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	return kv, sc.Err()
}

// Partitions returns the partitions of disk in devs, by number.
func Partitions(devs []Device, disk string) []Device {
	var out []Device
	for _, d := range devs {
		if !d.Disk && d.Parent == disk {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PartN < out[j].PartN })
	return out
}

// PartitionPath is the device node of partition n of disk: vda -> vda1,
// nvme0n1 -> nvme0n1p1 (the kernel adds "p" after a trailing digit).
func PartitionPath(disk string, n int) string {
	if last := disk[max(len(disk)-1, 0):]; last >= "0" && last <= "9" {
		return disk + "p" + strconv.Itoa(n)
	}
	return disk + strconv.Itoa(n)
}
