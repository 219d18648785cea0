package logs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// KmsgRecord is one record of the kernel log as /dev/kmsg gives it.
type KmsgRecord struct {
	// Level is the syslog severity, 0 (emerg) to 7 (debug).
	Level    int
	Facility int
	Seq      uint64
	// BootUS is microseconds since boot (CLOCK_MONOTONIC), as dmesg shows.
	BootUS int64
	Text   string
}

// ParseKmsg reads one /dev/kmsg record: "prio,seq,usec,flags[,...];text"
// followed by optional " KEY=value" lines, which are dropped. Text escapes
// (\x0a for a newline) are kept as the kernel wrote them.
func ParseKmsg(rec string) (KmsgRecord, error) {
	head, text, ok := strings.Cut(rec, ";")
	if !ok {
		return KmsgRecord{}, fmt.Errorf("kmsg record %q has no ';'", rec)
	}
	text, _, _ = strings.Cut(text, "\n")
	f := strings.Split(head, ",")
	if len(f) < 3 {
		return KmsgRecord{}, fmt.Errorf("kmsg record header %q: want prio,seq,usec", head)
	}
	prio, err1 := strconv.Atoi(f[0])
	seq, err2 := strconv.ParseUint(f[1], 10, 64)
	us, err3 := strconv.ParseInt(f[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return KmsgRecord{}, fmt.Errorf("kmsg record header %q: %w", head, err)
	}
	return KmsgRecord{Level: prio & 7, Facility: prio >> 3, Seq: seq, BootUS: us, Text: text}, nil
}

// ReadKmsg returns every record the kernel still holds, oldest first,
// reading path (normally /dev/kmsg) without blocking. Records overwritten
// while reading are skipped, as dmesg does.
func ReadKmsg(path string) ([]KmsgRecord, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	defer unix.Close(fd)
	var out []KmsgRecord
	// One read returns one whole record; 8 KiB is the kernel's limit.
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, syscall.EAGAIN):
			return out, nil
		case errors.Is(err, syscall.EPIPE):
			continue
		case err != nil:
			return out, fmt.Errorf("reading %s: %w", path, err)
		case n == 0:
			return out, nil
		}
		r, err := ParseKmsg(string(buf[:n]))
		if err != nil {
			continue
		}
		out = append(out, r)
	}
}
