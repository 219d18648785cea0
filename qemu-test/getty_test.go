package qemutest

import (
	"io"
	"regexp"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestGettyPasswordLogin boots examples/getty.yml (LinuxKit's getty example,
// whose /etc/getty.shadow sets root's password) and logs in on the serial
// console as a person would: a wrong password is refused, the right one
// gives a shell, and `svcctl poweroff` typed there stops the machine.
func TestGettyPasswordLogin(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/getty.yml")
	keys, typist := io.Pipe()
	defer typist.Close()
	ctx, c := bootGuest(t, 5*time.Minute, run.QEMU{Prefix: prefix, Stdin: keys})
	at := 0
	step := func(what, re, send string) {
		t.Helper()
		i, when, err := c.ExpectPrompt(ctx, at, regexp.MustCompile(re))
		if err != nil {
			t.Fatalf("%s: %v\nlast console lines:\n%s", what, err, c.Tail(40))
		}
		t.Logf("%6.2fs  %s", when.Seconds(), what)
		at = i + 1
		if send != "" {
			if _, err := io.WriteString(typist, send); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Prompts end without a newline: the line shows once the next arrives,
	// so each answer is typed after the prompt's line is seen.
	step("login prompt", `login: `, "root\n")
	step("password prompt", `Password: `, "wrong-password\n")
	step("wrong password refused", `Login incorrect`, "")
	step("login prompt again", `login: `, "root\n")
	step("password prompt again", `Password: `, "abcdefgh\n")
	step("logged in", `Welcome to Keel`, "")
	// busybox's shell asks the terminal where the cursor is (ESC[6n) before
	// it reads a line; answer as a terminal would, then type.
	step("shell prompt", `# `, "\x1b[1;5R")
	time.Sleep(time.Second)
	if _, err := io.WriteString(typist, "svcctl poweroff\n"); err != nil {
		t.Fatal(err)
	}
	typist.Close() // end of typing: Wait also waits for stdin's copier
	if err := c.Wait(ctx); err != nil {
		t.Errorf("qemu did not exit cleanly after svcctl poweroff from the login shell: %v\n%s", err, c.Tail(30))
	}
}
