package spec

import (
	"math"
	"os"
	"reflect"
	"testing"
	"unicode/utf8"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseBind(t *testing.T) {
	tests := []struct {
		in      string
		want    Bind
		wantErr bool
	}{
		{"/a:/b", Bind{"/a", "/b", []string{"rw", "rbind", "rshared"}}, false},
		{"/var:/var:rshared,rbind", Bind{"/var", "/var", []string{"rshared", "rbind", "rbind"}}, false},
		{"/etc/x:/etc/x:ro", Bind{"/etc/x", "/etc/x", []string{"ro", "rbind"}}, false},
		{"vol:/v", Bind{"vol", "/v", []string{"rw", "rbind", "rshared"}}, false},
		{"/a", Bind{}, true},
		{"/a:/b:ro:x", Bind{}, true},
		{":/b", Bind{}, true},
		{"/a:", Bind{}, true},
		// LinuxKit accepts these; runc takes the destination from the
		// container's root and ignores empty options.
		{"/a:b", Bind{"/a", "/b", []string{"rw", "rbind", "rshared"}}, false},
		{"/a:b/c:ro", Bind{"/a", "/b/c", []string{"ro", "rbind"}}, false},
		{"/a:/b:", Bind{"/a", "/b", []string{"rbind"}}, false},
		{"/a:/b:ro,,rshared", Bind{"/a", "/b", []string{"ro", "rshared", "rbind"}}, false},
	}
	for _, tc := range tests {
		got, err := ParseBind(tc.in)
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseBind(%q): got %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseRlimit(t *testing.T) {
	tests := []struct {
		in      string
		want    specs.POSIXRlimit
		wantErr bool
	}{
		{"nofile,1024,4096", specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}, false},
		{" RLIMIT_CORE , unlimited , UNLIMITED", specs.POSIXRlimit{Type: "RLIMIT_CORE", Soft: math.MaxUint64, Hard: math.MaxUint64}, false},
		{"memlock,0,unlimited", specs.POSIXRlimit{Type: "RLIMIT_MEMLOCK", Soft: 0, Hard: math.MaxUint64}, false},
		{"nofile,1024", specs.POSIXRlimit{}, true},
		{"nofile,2,1", specs.POSIXRlimit{}, true},
		{"nofile,-1,1", specs.POSIXRlimit{}, true},
		{"bogus,1,1", specs.POSIXRlimit{}, true},
	}
	for _, tc := range tests {
		got, err := ParseRlimit(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseRlimit(%q): got %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestNormalizeSignal(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SIGTERM", "SIGTERM"}, {"term", "SIGTERM"}, {"15", "SIGTERM"}, {"SIGPWR", "SIGPWR"},
		{"IOT", "SIGABRT"}, {"RTMIN+3", "SIGRTMIN+3"}, {"37", "SIGRTMIN+3"}, {"SIGRTMAX", "SIGRTMIN+30"},
		{"SIGRTMAX-1", "SIGRTMIN+29"}, {"sigrtmin+2", "SIGRTMIN+2"}, {"SIGRTMAX+1", ""}, {"32", ""},
		{"SIGNOPE", ""}, {"0", ""}, {"65", ""}, {"RTMIN+31", ""},
	}
	for _, tc := range tests {
		got, err := NormalizeSignal(tc.in)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("NormalizeSignal(%q): got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNormalizeMount(t *testing.T) {
	tests := []struct {
		in, want specs.Mount
		wantErr  bool
	}{
		{specs.Mount{Source: "proc"}, specs.Mount{Type: "proc", Source: "proc", Destination: "/proc"}, false},
		{specs.Mount{Destination: "/dev"}, specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: "/dev"}, false},
		{specs.Mount{Type: "mqueue"}, specs.Mount{Type: "mqueue", Source: "mqueue", Destination: "/dev/mqueue"}, false},
		{specs.Mount{Type: "bind", Source: "/a", Destination: "/b"}, specs.Mount{Type: "bind", Source: "/a", Destination: "/b"}, false},
		{specs.Mount{Destination: "/x"}, specs.Mount{}, true},
		{specs.Mount{Type: "tmpfs"}, specs.Mount{}, true},
		// LinuxKit's writeable-host-etc: relative to the container's root.
		{specs.Mount{Type: "bind", Source: "/etc", Destination: "writeable-host-etc"}, specs.Mount{Type: "bind", Source: "/etc", Destination: "/writeable-host-etc"}, false},
		{specs.Mount{Type: "tmpfs", Destination: "x/y"}, specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: "/x/y"}, false},
	}
	for _, tc := range tests {
		got, err := NormalizeMount(tc.in)
		if (err != nil) != tc.wantErr || (!tc.wantErr && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("NormalizeMount(%+v): got %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestCapabilities(t *testing.T) {
	all := AllCapabilities()
	if len(all) < 38 || !IsCapability("CAP_SYS_ADMIN") || IsCapability("cap_sys_admin") || IsCapability("SYS_ADMIN") {
		t.Errorf("got %d capabilities, want the kernel's list with CAP_ names", len(all))
	}
	if got := ExpandCapabilities([]string{"ALL"}); !reflect.DeepEqual(got, all) {
		t.Errorf("got %v for [ALL], want every capability", got)
	}
	if got := ExpandCapabilities([]string{"none"}); got == nil || len(got) != 0 {
		t.Errorf("got %#v for [none], want an empty non-nil list", got)
	}
	if got := ExpandCapabilities([]string{"CAP_CHOWN", "all"}); len(got) != 2 {
		t.Errorf("got %v, want the list unchanged when all is not alone", got)
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{{"0644", 0o644, true}, {"644", 0o644, true}, {"0o755", 0o755, true}, {"4755", 0o4755, true},
		{"", 0, false}, {"0999", 0, false}, {"17777", 0, false}, {"rw", 0, false}}
	for _, tc := range tests {
		got, err := ParseMode(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseMode(%q): got %o, %v; want %o, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"command", "capabilities", "cwd", "net"}
	tests := []struct{ word, want string }{
		{"comand", "command"}, {"Command", "command"}, {"capabilites", "capabilities"},
		{"cdw", ""}, {"xyz", ""}, {"network", ""},
	}
	for _, tc := range tests {
		if got := suggest(tc.word, names); got != tc.want {
			t.Errorf("suggest(%q): got %q, want %q", tc.word, got, tc.want)
		}
	}
}

// FuzzParse checks that no input makes Parse or ParseLabel panic, and that
// every failure is a positioned ErrorList.
func FuzzParse(f *testing.F) {
	files, _ := os.ReadDir(compatDir + "/examples")
	for _, e := range files {
		if data, err := os.ReadFile(compatDir + "/examples/" + e.Name()); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(head + fullImage))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte(`{"capabilities":["all"],"uid":"x","resources":{"memory":{"limit":-1}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f.yml", data)
		if err == nil {
			if s == nil {
				t.Fatal("got nil spec and nil error")
			}
			_ = s.Validate()
			s.ResolveVolumes()
			_ = s.ImageRefs()
		} else if _, ok := AsErrorList(err); !ok {
			t.Fatalf("got %T error, want ErrorList: %v", err, err)
		} else if utf8.ValidString(string(data)) && err.Error() == "" {
			t.Fatal("got an empty error message")
		}
		if _, err := ParseLabel("x", data); err != nil {
			if _, ok := AsErrorList(err); !ok {
				t.Fatalf("ParseLabel: got %T error, want ErrorList: %v", err, err)
			}
		}
	})
}
