package boot

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// logger writes init's messages to the console (PID 1's stdout, which the
// kernel opened on /dev/console) and, once /dev exists, to /dev/kmsg so they
// land in the kernel log too.
type logger struct {
	mu      sync.Mutex
	console io.Writer
	kmsg    io.Writer
	debug   bool
}

// klog is init's logger. It is not named log so the standard library's
// package stays reachable by its name; tests swap it for one writing to a
// buffer.
var klog = &logger{console: os.Stdout}

// kmsgPrefix is facility "user", level "debug": dmesg keeps the line but the
// kernel does not echo it to a console at the default log level, so the
// console does not show every message twice.
const kmsgPrefix = "<15>init: "

// Printf logs a message.
func (l *logger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		if l.console != nil {
			io.WriteString(l.console, "init: "+line+"\n")
		}
		if l.kmsg != nil {
			// One write is one kmsg record.
			if _, err := io.WriteString(l.kmsg, kmsgPrefix+line+"\n"); err != nil {
				l.kmsg = nil
			}
		}
	}
}

// Debugf logs a message only when keel.debug is on the kernel command line.
func (l *logger) Debugf(format string, args ...any) {
	if l.isDebug() {
		l.Printf(format, args...)
	}
}

func (l *logger) isDebug() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.debug
}

func (l *logger) setDebug(on bool) {
	l.mu.Lock()
	l.debug = on
	l.mu.Unlock()
}

// openKmsg starts copying messages to /dev/kmsg when it is writable.
func (l *logger) openKmsg() {
	f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	l.mu.Lock()
	l.kmsg = f
	l.mu.Unlock()
}
