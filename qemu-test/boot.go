// Package qemutest boots images built from this repository in QEMU and
// checks what they print on the serial console.
package qemutest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// Console is a running guest whose serial console is read line by line.
type Console struct {
	cmd   *exec.Cmd
	start time.Time
	accel run.Accel

	mu    sync.Mutex
	lines []string
	at    []time.Duration
	// partial is the text after the last newline: a prompt such as
	// "login: " waits there for input.
	partial   string
	partialAt time.Duration
	grew      chan struct{}
	done      chan struct{}
	err       error
	// wedged is the first line where the guest kernel said a CPU is
	// stuck: nothing the test waits for will come after it, so Expect
	// stops at once instead of at its deadline.
	wedged string
}

// wedgedLine matches the kernel's own report of a stuck CPU: a soft lockup
// (a CPU in the kernel for over 20 s) or an RCU stall.
var wedgedLine = regexp.MustCompile(`watchdog: BUG: soft lockup - CPU#|rcu: INFO: rcu_(sched|preempt) (self-)?detected stall`)

// Boot starts QEMU (the one of the build's architecture) on a build. The context bounds the run.
func Boot(ctx context.Context, q *run.QEMU) (*Console, error) {
	args, err := q.Args()
	if err != nil {
		return nil, err
	}
	bin, err := q.Program()
	if err != nil {
		return nil, err
	}
	acc, err := q.Accelerator() // decided by Args; named in failure messages
	if err != nil {
		return nil, err
	}
	if q.TPM != nil {
		if err := q.TPM.Start(ctx); err != nil {
			return nil, err
		}
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = q.Stdin // what a person would type on the serial console
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	c := &Console{cmd: cmd, accel: acc, grew: make(chan struct{}, 1), done: make(chan struct{})}
	c.start = time.Now()
	if err := cmd.Start(); err != nil {
		if q.TPM != nil {
			q.TPM.Stop()
		}
		return nil, fmt.Errorf("starting qemu: %w", err)
	}
	go c.read(pr)
	go func() {
		err := cmd.Wait()
		if q.TPM != nil {
			q.TPM.Stop()
		}
		pw.Close()
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
	}()
	return c, nil
}

// maxLine bounds a line without a newline before it is cut.
const maxLine = 1 << 20

// read splits QEMU's output into lines, keeping the unfinished last one.
func (c *Console) read(r io.Reader) {
	buf := make([]byte, 32*1024)
	var rest []byte
	for {
		n, err := r.Read(buf)
		now := time.Since(c.start)
		c.mu.Lock()
		rest = append(rest, buf[:n]...)
		for {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				// At the end, or past maxLine, the rest is a line of its own.
				if len(rest) == 0 || (err == nil && len(rest) < maxLine) {
					break
				}
				i = len(rest)
			}
			line := strings.TrimRight(string(rest[:i]), "\r")
			if c.wedged == "" && wedgedLine.MatchString(line) {
				c.wedged = line
			}
			c.lines = append(c.lines, line)
			c.at = append(c.at, now)
			rest = rest[min(i+1, len(rest)):]
		}
		if p := strings.TrimRight(string(rest), "\r"); p != c.partial {
			c.partial, c.partialAt = p, now
		}
		c.mu.Unlock()
		select {
		case c.grew <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// Expect waits for a console line matching re, searching from line index
// from on, and returns the index of the match and when it was printed.
func (c *Console) Expect(ctx context.Context, from int, re *regexp.Regexp) (int, time.Duration, error) {
	return c.expect(ctx, from, re, false)
}

// ExpectPrompt is Expect that also matches the unfinished last line, where
// a prompt such as "login: " waits for input. (Expect does not: a long
// line arrives in pieces, and a match on its first piece would cut it.)
func (c *Console) ExpectPrompt(ctx context.Context, from int, re *regexp.Regexp) (int, time.Duration, error) {
	return c.expect(ctx, from, re, true)
}

func (c *Console) expect(ctx context.Context, from int, re *regexp.Regexp, prompt bool) (int, time.Duration, error) {
	for {
		c.mu.Lock()
		for i := from; i < len(c.lines); i++ {
			if re.MatchString(c.lines[i]) {
				at := c.at[i]
				c.mu.Unlock()
				return i, at, nil
			}
		}
		// The unfinished line will be line len(c.lines) once it ends.
		if prompt && from <= len(c.lines) && c.partial != "" && re.MatchString(c.partial) {
			i, at := len(c.lines), c.partialAt
			c.mu.Unlock()
			return i, at, nil
		}
		from = max(from, len(c.lines))
		wedged := c.wedged
		c.mu.Unlock()
		if wedged != "" {
			return -1, 0, fmt.Errorf("no line matching %q: the guest kernel reports a stuck CPU (%s)", re, strings.TrimSpace(wedged))
		}
		select {
		case <-c.grew:
		case <-c.done:
			// Drain what arrived just before the exit.
			c.mu.Lock()
			n := len(c.lines)
			c.mu.Unlock()
			if from >= n {
				return -1, 0, fmt.Errorf("qemu exited before a line matching %q appeared", re)
			}
		case <-ctx.Done():
			return -1, 0, fmt.Errorf("no line matching %q: %w", re, ctx.Err())
		}
	}
}

// Lines returns lines [from, to) of the console (to < 0 means all). The
// unfinished last line counts as line len(lines), as Expect numbers it.
func (c *Console) Lines(from, to int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	all := c.lines
	if c.partial != "" {
		all = append(all[:len(all):len(all)], c.partial)
	}
	if to < 0 || to > len(all) {
		to = len(all)
	}
	if from > to {
		return nil
	}
	return append([]string(nil), all[from:to]...)
}

// Tail returns the last n console lines, for failure messages, after a
// line naming the accelerator the guest ran under.
func (c *Console) Tail(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	from := max(0, len(c.lines)-n)
	head := "[qemu-test: accelerator " + c.accel.String() + "]"
	return head + "\n" + strings.Join(append(c.lines[from:len(c.lines):len(c.lines)], c.partial), "\n")
}

// Wait waits for QEMU to exit and returns its error (nil for status 0).
func (c *Console) Wait(ctx context.Context) error {
	select {
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err
	case <-ctx.Done():
		return fmt.Errorf("qemu still running: %w", ctx.Err())
	}
}

// Kill stops QEMU if it is still running.
func (c *Console) Kill() {
	if c.cmd.Process != nil {
		c.cmd.Process.Kill()
	}
}

// Elapsed is the time since QEMU started.
func (c *Console) Elapsed() time.Duration { return time.Since(c.start) }
