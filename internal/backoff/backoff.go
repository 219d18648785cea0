// Package backoff spaces out the restarts of a program that keeps ending:
// init's restarts of svcd and svcd's restarts of services and containerd.
//
// The wait starts at Initial and doubles after each restart up to Max; a
// run that lasted at least Reset starts it over from Initial, so a program
// that crashes once a day is not punished for crashes long past.
//
// The numbers, and why:
//
//   - Initial 1 s: a one-off crash costs a second of downtime, while a
//     program that dies at once cannot spin a core (on a small VM, a crash
//     loop with no wait starves everything else, the console included).
//   - Max 30 s: a program whose cause of failure goes away (a network that
//     comes up, a disk that gets mounted, a config that gets fixed) is back
//     within half a minute, and a program that never starts costs at most
//     one attempt and one log line per 30 s.
//   - Reset 30 s for services (Services): a run longer than the longest
//     wait is no longer part of a crash loop.
//   - Reset 60 s for svcd (Svcd): svcd's own start includes starting
//     containerd and the boot services, which can take tens of seconds
//     under TCG; a svcd that dies after 40 s is still crash-looping, and
//     each of its restarts restarts every service, so init waits longer
//     before it forgives it.
package backoff

import "time"

// Policy says how long to wait between restarts. A zero Max means no cap, a
// zero Reset means the wait never starts over, a zero Initial means no wait.
type Policy struct {
	Initial, Max, Reset time.Duration
}

// Services is svcd's policy for services and containerd.
var Services = Policy{Initial: time.Second, Max: 30 * time.Second, Reset: 30 * time.Second}

// Svcd is init's policy for svcd.
var Svcd = Policy{Initial: time.Second, Max: 30 * time.Second, Reset: time.Minute}

// Backoff is the wait state of one restarting program; the zero value is
// not usable, New makes one.
type Backoff struct {
	p    Policy
	next time.Duration
}

// New starts a Backoff following p.
func New(p Policy) *Backoff {
	return &Backoff{p: p, next: p.Initial}
}

// Next returns how long to wait before the next start, given how long the
// run that just ended lasted, and doubles the wait for the time after.
func (b *Backoff) Next(ran time.Duration) time.Duration {
	if b.p.Reset > 0 && ran >= b.p.Reset {
		b.next = b.p.Initial
	}
	d := b.next
	b.next *= 2
	if b.p.Max > 0 && b.next > b.p.Max {
		b.next = b.p.Max
	}
	return d
}
