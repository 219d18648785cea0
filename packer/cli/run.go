package cli

import (
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/internal/cidata"
	"github.com/keel-os/keel/packer/run"
	"github.com/keel-os/keel/packer/segment"
)

func runCmd(g *globals, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "run",
		Short: "Boot a built image in QEMU, or an image keel push made in its cloud",
		Long: `Boot a built image: keel run qemu boots a build here; keel run gcp,
keel run aws and keel run azure start an instance of an image keel push
made, pass it --data (and SSH keys) the way that cloud delivers metadata,
stream its serial console, and delete the instance (and what was made with
it) when it stops or on Ctrl-C (keel rm deletes one left with --detach or
--keep). See docs/clouds.md.`,
	}
	q := &run.QEMU{}
	var data, dataFile, tpmDir string
	var tpm2 bool
	var publish, disks, networks []string
	qc := &cobra.Command{
		Use:   "qemu PREFIX|FILE",
		Short: "Boot a build in QEMU with the console on this terminal",
		Long: `Boot a build in QEMU with the console on this terminal: PREFIX-kernel +
PREFIX-initrd.img, or an image file (.iso, raw .img/.raw, .qcow2, .vhd, .vmdk,
or a UKI .efi). Images that need UEFI (raw-efi, iso-efi, uki, *-efi.*) boot
with OVMF by themselves; --uefi forces it. The exit status is 0 when the
guest powered itself off cleanly.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q.Prefix, q.Stdin, q.Stdout = args[0], stdin, stdout
			q.Decider = g.decider(stderr)
			q.StartSwitch = spawnSwitch
			if q.Detach && q.StateDir == "" {
				// A detached guest outlives this command: its state must
				// be somewhere the user can find.
				q.StateDir = strings.TrimSuffix(args[0], filepath.Ext(args[0])) + "-state"
			}
			for _, s := range publish {
				p, err := run.ParsePublish(s)
				if err != nil {
					return err
				}
				q.Publish = append(q.Publish, p)
			}
			for _, s := range networks {
				n, err := run.ParseNetwork(s)
				if err != nil {
					return err
				}
				q.Networks = append(q.Networks, n)
			}
			for _, s := range disks {
				d, err := run.ParseDisk(s)
				if err != nil {
					return err
				}
				q.Disks = append(q.Disks, d)
			}
			if tpmDir != "" {
				q.TPM = &run.TPM{Dir: tpmDir, Version2: tpm2}
			} else if tpm2 {
				return fmt.Errorf("--tpm2 needs --tpm DIR (the TPM's state directory)")
			}
			extra, cleanup, err := metadataArgs(data, dataFile)
			if err != nil {
				return err
			}
			defer cleanup()
			q.Extra = append(q.Extra, extra...)
			if err := q.Run(cmd.Context()); err != nil {
				return err
			}
			if q.Detach {
				fmt.Fprintf(stdout, "started: console %s, pid in %s\n", filepath.Join(q.StateDir, "console.log"), filepath.Join(q.StateDir, "qemu.pid"))
			}
			return nil
		},
	}
	qc.Flags().IntVar(&q.Mem, "mem", 1024, "guest memory in MiB")
	qc.Flags().StringVar(&q.Arch, "arch", "", "guest architecture: "+strings.Join(run.Arches(), " or ")+" (default: the kernel's or UKI's, else amd64; arm64 runs on QEMU's virt board; give it for an arm64 disk or ISO)")
	qc.Flags().IntVar(&q.CPUs, "cpus", 0, fmt.Sprintf("guest CPUs (default: this host's CPUs, at most 2: %d here; 1 under --mem 256)", run.DefaultCPUs(1024)))
	qc.Flags().StringVar(&q.KVM, "kvm", "", kvmHelp)
	qc.Flags().StringVar(&q.ExtraCmdline, "cmdline", "", "extra kernel command line")
	qc.Flags().StringVar(&data, "data", "", "userdata for the metadata agent, passed through QEMU fw_cfg")
	qc.Flags().StringVar(&dataFile, "data-file", "", "a cidata ISO (attached as a disk) or a userdata file (passed through fw_cfg)")
	qc.Flags().StringArrayVar(&publish, "publish", nil, "forward a host port to the guest: host:guest[/tcp|udp] (repeatable)")
	qc.Flags().BoolVar(&q.UEFI, "uefi", false, "boot with UEFI firmware (OVMF, Debian's ovmf package)")
	qc.Flags().BoolVar(&q.SecureBoot, "secure-boot", false, "boot with UEFI Secure Boot enforced (implies --uefi); the keys are Debian's test keys unless --secure-boot-vars names another store")
	qc.Flags().StringVar(&q.SecureBootVars, "secure-boot-vars", "", "OVMF variable store (4M) with your PK, KEK and db enrolled, for --secure-boot")
	qc.Flags().StringVar(&q.StateDir, "state", "", "directory for the UEFI variables, the ESP made for a UKI, and with --detach the console log and pid (default: temporary; PREFIX-state with --detach)")
	qc.Flags().BoolVar(&q.Detach, "detach", false, "run in the background: console in STATE/console.log, pid in STATE/qemu.pid")
	qc.Flags().StringArrayVar(&networks, "networking", nil, "a NIC (repeatable, in guest order; default user): user, none, tap,IFNAME, bridge,BRIDGE, socket,listen=HOST:PORT or socket,connect=HOST:PORT (a link between two VMs), segment,NAME (a switch shared by every VM naming NAME); add ,mac=ADDR to choose its address and ,model=NIC for QEMU's NIC model (default virtio-net-pci; e1000e as on physical machines)")
	qc.Flags().StringArrayVar(&q.Devices, "device", nil, "pass a -device to QEMU (repeatable), e.g. e1000e,netdev=net0")
	qc.Flags().StringVar(&q.GuestAgent, "qemu-ga", "", "give the guest a QEMU guest agent channel (/dev/vport0p1, for the qemu-ga package) served on this host unix socket")
	qc.Flags().StringVar(&tpmDir, "tpm", "", "give the guest a TPM 1.2 (/dev/tpm0, for the tss package): swtpm (Debian's swtpm) started with its state in this directory, made if missing and kept for the next boot")
	qc.Flags().BoolVar(&tpm2, "tpm2", false, "with --tpm: a TPM 2.0 instead of 1.2")
	qc.Flags().StringVar(&q.Firmware, "fw", "", "UEFI firmware code file to boot with (implies --uefi; default Debian's OVMF)")
	qc.Flags().StringArrayVar(&disks, "disk", nil, "attach a disk: file[,size=1G][,format=raw|qcow2][,if=virtio|nvme|ahci] (created if missing; repeatable)")
	qc.Flags().StringVar(&q.Machine, "machine", "", "amd64 board: pc (default) or q35 (PCIe and AHCI, as physical machines)")
	c.AddCommand(qc, accelCmd(g, stdout, stderr), switchCmd(stderr), runGCPCmd(g, stdout, stderr), runAWSCmd(g, stdout, stderr), runAzureCmd(g, stdout, stderr))
	return c
}

// switchIdle is how long a switch that keel run qemu started stays
// without a VM before it goes.
const switchIdle = 30 * time.Second

// spawnSwitch starts the switch of a segment for keel run qemu: this
// program again, in the background, so that the segment outlives the VM
// that happened to start it.
func spawnSwitch(dir, name string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return segment.Spawn(exe, switchArgs(dir, name, switchIdle), dir, name)
}

// switchArgs is the command line (after the program) of a switch that
// spawnSwitch starts.
func switchArgs(dir, name string, idle time.Duration) []string {
	return []string{"run", "switch", "--dir", dir, "--idle", idle.String(), name}
}

// switchCmd serves one segment's switch in the foreground.
func switchCmd(stderr io.Writer) *cobra.Command {
	var dir string
	var idle time.Duration
	c := &cobra.Command{
		Use:   "switch NAME",
		Short: "Run the Ethernet switch of segment NAME (keel run qemu --networking segment,NAME starts one when none runs)",
		Long: `Run the Ethernet switch that joins the VMs started with
--networking segment,NAME, on a unix socket (mode 0600) in this user's runtime
directory. keel run qemu starts one in the background when none runs, which
goes once no VM has been attached for 30 s; run it yourself to keep the
segment up or watch its log.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if dir == "" {
				dir = segment.Dir()
			}
			ln, err := segment.Listen(dir, name)
			if err != nil {
				return err
			}
			logger := log.New(stderr, "keel switch "+name+": ", log.LstdFlags)
			fmt.Fprintf(stderr, "keel switch %s: serving %s\n", name, segment.Socket(dir, name))
			sv := &segment.Server{Dir: dir, Name: name, Idle: idle, Switch: &segment.Switch{Logf: logger.Printf}}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return sv.Serve(ctx, ln)
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "directory of the segment sockets (default: $XDG_RUNTIME_DIR/keel/segments, /run/keel/segments for root)")
	c.Flags().DurationVar(&idle, "idle", 0, "go after this long without a VM attached (0: never)")
	return c
}

const kvmHelp = "use KVM: auto (where a probe has seen it run a guest on this host; cached), on (fail if it cannot) or off (default: $KEEL_KVM, else auto)"

// decider is the KVM decision's seam for a command: its one line about a
// failed probe goes to stderr (nowhere with -q).
func (g *globals) decider(stderr io.Writer) *run.Decider {
	if g.quiet {
		stderr = io.Discard
	}
	return &run.Decider{Log: stderr}
}

// accelCmd answers which accelerator boots use here, for scripts (make
// bench hands it to the boot-floor tool) and for people wondering.
func accelCmd(g *globals, stdout, stderr io.Writer) *cobra.Command {
	q := &run.QEMU{}
	var printCPU bool
	c := &cobra.Command{
		Use:   "accel [PREFIX|FILE]",
		Short: "Print the accelerator boots use on this host: kvm or tcg (the reason on stderr)",
		Long: `Print the accelerator that keel run qemu (and every test) uses on this host:
kvm or tcg, and why on stderr. With KVM mode auto, KVM is used only where a
probe has seen a guest kernel run under it on this host; the first call may
run that probe (a few seconds; the verdict is cached). The probe boots the
given build's kernel, else the host's own (/boot). --cpu prints the -cpu model
the boots use instead, so a bare-kernel floor can be measured with the same one.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				q.Prefix = args[0]
			}
			q.Decider = g.decider(stderr)
			a, err := q.Accelerator()
			if err != nil {
				return err
			}
			if !g.quiet {
				fmt.Fprintf(stderr, "keel: %s\n", a)
			}
			if printCPU {
				fmt.Fprintln(stdout, a.CPU)
				return nil
			}
			fmt.Fprintln(stdout, a.Name())
			return nil
		},
	}
	c.Flags().BoolVar(&printCPU, "cpu", false, "print QEMU's -cpu model for the accelerator instead of its name")
	c.Flags().StringVar(&q.KVM, "kvm", "", kvmHelp)
	c.Flags().StringVar(&q.Arch, "arch", "", "guest architecture (default: the build's, else this host's)")
	return c
}

// metadataArgs turns --data/--data-file into QEMU arguments. A string is
// written to a temporary file that lives as long as QEMU runs.
func metadataArgs(data, dataFile string) ([]string, func(), error) {
	nothing := func() {}
	switch {
	case data != "" && dataFile != "":
		return nil, nothing, fmt.Errorf("give --data or --data-file, not both")
	case data != "":
		f, err := os.CreateTemp("", "keel-userdata-")
		if err != nil {
			return nil, nothing, err
		}
		if _, err := f.WriteString(data); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, nothing, err
		}
		f.Close()
		return cidata.FwCfgArgs(f.Name()), func() { os.Remove(f.Name()) }, nil
	case dataFile != "":
		if _, err := os.Stat(dataFile); err != nil {
			return nil, nothing, fmt.Errorf("--data-file: %w", err)
		}
		if strings.HasSuffix(strings.ToLower(dataFile), ".iso") {
			return cidata.DriveArgs(dataFile), nothing, nil
		}
		return cidata.FwCfgArgs(dataFile), nothing, nil
	}
	return nil, nothing, nil
}
