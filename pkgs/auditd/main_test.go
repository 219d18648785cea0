package main

import (
	"slices"
	"testing"
)

func TestCommand(t *testing.T) {
	for _, c := range []struct {
		args      []string
		want      []string
		wantAudit bool
		wantErr   bool
	}{
		// LinuxKit's image command line.
		{args: []string{"/sbin/tini", "/usr/bin/runaudit.sh"}, want: []string{auditd, "-f"}, wantAudit: true},
		// Arguments replace -f: -n writes the log file.
		{args: []string{"/sbin/tini", "--", "/usr/bin/runaudit.sh", "-n"}, want: []string{auditd, "-n"}, wantAudit: true},
		{args: []string{"/usr/bin/runaudit.sh", "-n", "-c", "/etc/audit"}, want: []string{auditd, "-n", "-c", "/etc/audit"}, wantAudit: true},
		{args: []string{"/usr/bin/runaudit.sh"}, want: []string{auditd, "-f"}, wantAudit: true},
		{args: []string{"/usr/bin/runaudit"}, want: []string{auditd, "-f"}, wantAudit: true},
		// tini running something else runs only that.
		{args: []string{"/sbin/tini", "/sbin/auditctl", "-l"}, want: []string{"/sbin/auditctl", "-l"}},
		{args: []string{"/sbin/tini"}, wantErr: true},
		{args: []string{"/sbin/tini", "--"}, wantErr: true},
		{args: []string{"/usr/bin/runaudit.sh", ""}, wantErr: true},
		{args: nil, wantErr: true},
	} {
		got, audit, err := command(c.args)
		if (err != nil) != c.wantErr {
			t.Errorf("command(%q): got error %v, want error %v", c.args, err, c.wantErr)
			continue
		}
		if !slices.Equal(got, c.want) || audit != c.wantAudit {
			t.Errorf("command(%q): got %q audit %v, want %q audit %v", c.args, got, audit, c.want, c.wantAudit)
		}
	}
}
