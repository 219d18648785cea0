package qemutest

import (
	"encoding/binary"
	"net"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// ntpPort is where testdata/net-ntp.yml sends the guest's NTP query.
const ntpPort = 11123

// serveFakeNTP answers SNTP queries on the host's loopback with a clock
// skew ahead of the host's, until the test ends. It counts the queries.
func serveFakeNTP(t *testing.T, skew time.Duration) *atomic.Int64 {
	t.Helper()
	conn, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ntpPort)))
	if err != nil {
		t.Fatalf("the fake NTP server needs UDP port %d on the host: %v", ntpPort, err)
	}
	t.Cleanup(func() { conn.Close() })
	ntpEpoch := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	stamp := func(b []byte, at time.Time) {
		d := at.Sub(ntpEpoch)
		binary.BigEndian.PutUint32(b, uint32(d/time.Second))
		binary.BigEndian.PutUint32(b[4:], uint32(uint64(d%time.Second)<<32/uint64(time.Second)))
	}
	queries := new(atomic.Int64)
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 48 {
				continue
			}
			queries.Add(1)
			now := time.Now().Add(skew)
			r := make([]byte, 48)
			r[0] = buf[0]&0x38 | 4                       // the client's version, server mode
			r[1] = 2                                     // stratum: synchronised to a reference
			binary.BigEndian.PutUint32(r[8:], 1<<16/100) // root dispersion 10 ms
			copy(r[12:16], "TEST")
			stamp(r[16:], now.Add(-time.Second)) // reference time
			copy(r[24:32], buf[40:48])           // origin: the client's transmit time
			stamp(r[32:], now)                   // receive
			stamp(r[40:], time.Now().Add(skew))  // transmit
			conn.WriteTo(r, from)
		}
	}()
	return queries
}

// TestNTPBoots boots examples/dhcp.yml with an onboot ntp container that
// asks a fake server on the host, two hours ahead, for the time: the
// guest's clock must move by two hours, which takes the real adjtimex and
// CAP_SYS_TIME in the container.
func TestNTPBoots(t *testing.T) {
	require(t)
	const skew = 2 * time.Hour
	queries := serveFakeNTP(t, skew)
	c, s := bootNetCheck(t, []string{"examples/dhcp.yml", "qemu-test/testdata/net-ntp.yml"},
		`ntp: 10\.0\.2\.2:11123: clock stepped by 1h59m5\d\.\d+s|ntp: 10\.0\.2\.2:11123: clock stepped by 2h0m\d`,
		`svcd: onboot ntp exited 0`,
	)
	host := time.Now()
	guestSecs, err := strconv.ParseInt(s.date, 10, 64)
	if err != nil {
		t.Fatalf("netcheck printed no clock (%q)\nlast console lines:\n%s", s.date, c.Tail(60))
	}
	// The check prints the clock a little before the test reads it, and
	// the console is not instant: allow a minute either way.
	off := time.Unix(guestSecs, 0).Sub(host)
	if (off - skew).Abs() > time.Minute {
		t.Errorf("guest clock is %s off the host's, want about %s", off.Round(time.Second), skew)
	}
	if queries.Load() == 0 {
		t.Error("the fake NTP server got no query")
	}
	if i, _, err := c.Expect(t.Context(), 0, regexp.MustCompile(`ntp: .*clock stepped by`)); err == nil {
		t.Logf("guest: %s; clock %s off the host's", c.Lines(i, i+1)[0], off.Round(time.Second))
	}
}
